using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;

namespace Tomalign.Gpu;

/// <summary>
/// Runs the device pair correlator and, when the device runs out of memory, warns and redoes the
/// whole batch on the CPU path (the result is computed afresh). Other exceptions propagate.
/// </summary>
public sealed class FallbackPairCorrelator : IPairCorrelator
{
    private readonly IPairCorrelator _primary;
    private readonly Func<IPairCorrelator> _fallback;
    private readonly ILogger _logger;
    private readonly string _deviceName;

    public FallbackPairCorrelator(IPairCorrelator primary, Func<IPairCorrelator> fallback, ILogger logger, string deviceName = "GPU")
    {
        _primary = primary ?? throw new ArgumentNullException(nameof(primary));
        _fallback = fallback ?? throw new ArgumentNullException(nameof(fallback));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _deviceName = deviceName;
    }

    /// <summary>How many calls fell back to the CPU path.</summary>
    public int Fallbacks { get; private set; }

    public CorrelationPeak[] Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<ViewStatistics> statistics,
        ReadOnlySpan<CorrelationPair> pairs, CorrelationSettings settings)
    {
        try
        {
            return _primary.Correlate(views, nx, ny, nz, statistics, pairs, settings);
        }
        catch (Exception ex) when (FallbackStackWarper.IsOutOfMemory(ex))
        {
            Fallbacks++;
            _logger.LogWarning("{Device} ran out of memory correlating {Pairs} pairs of {Nx}×{Ny} ({Message}); using the CPU path",
                _deviceName, pairs.Length, nx, ny, ex.Message);
        }
        return _fallback().Correlate(views, nx, ny, nz, statistics, pairs, settings);
    }
}
