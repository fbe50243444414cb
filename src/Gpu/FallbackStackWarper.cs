using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;
using Tomalign.Core.Geometry;

namespace Tomalign.Gpu;

/// <summary>
/// Runs the device warper and, when the device runs out of memory, warns and redoes the whole
/// warp on the CPU path (the destination is rewritten entirely, so a partial device result is harmless).
/// Other exceptions propagate.
/// </summary>
public sealed class FallbackStackWarper : IStackWarper
{
    private readonly IStackWarper _primary;
    private readonly Func<IStackWarper> _fallback;
    private readonly ILogger _logger;
    private readonly string _deviceName;

    public FallbackStackWarper(IStackWarper primary, Func<IStackWarper> fallback, ILogger logger, string deviceName = "GPU")
    {
        _primary = primary ?? throw new ArgumentNullException(nameof(primary));
        _fallback = fallback ?? throw new ArgumentNullException(nameof(fallback));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _deviceName = deviceName;
    }

    /// <summary>How many calls fell back to the CPU path.</summary>
    public int Fallbacks { get; private set; }

    public void Warp(ReadOnlySpan<float> source, int nx, int ny, int nz, ReadOnlySpan<Xf> transforms,
        ReadOnlySpan<float> fill, WarpOptions options, Span<float> destination)
    {
        try
        {
            _primary.Warp(source, nx, ny, nz, transforms, fill, options, destination);
            return;
        }
        catch (Exception ex) when (IsOutOfMemory(ex))
        {
            Fallbacks++;
            _logger.LogWarning("{Device} ran out of memory warping a {Nx}×{Ny}×{Nz} stack ({Message}); using the CPU path",
                _deviceName, nx, ny, nz, ex.Message);
        }
        _fallback().Warp(source, nx, ny, nz, transforms, fill, options, destination);
    }

    /// <summary>True for the ways ILGPU reports an exhausted device (or host, for the CPU accelerator).</summary>
    public static bool IsOutOfMemory(Exception ex) => ex switch
    {
        OutOfMemoryException => true,
        CudaException cuda => cuda.Error.ToString().Contains("OUT_OF_MEMORY", StringComparison.OrdinalIgnoreCase) ||
                              cuda.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase),
        CLException cl => cl.Error.ToString() is var e &&
                          (e.Contains("ALLOCATION_FAILURE", StringComparison.OrdinalIgnoreCase) ||
                           e.Contains("OUT_OF_RESOURCES", StringComparison.OrdinalIgnoreCase) ||
                           e.Contains("OUT_OF_HOST_MEMORY", StringComparison.OrdinalIgnoreCase)),
        AcceleratorException acc => acc.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase),
        AggregateException agg => agg.InnerExceptions.Any(IsOutOfMemory),
        _ => ex.InnerException is { } inner && IsOutOfMemory(inner),
    };
}
