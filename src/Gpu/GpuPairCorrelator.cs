using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Tomalign.Core.Backend;
using Tomalign.Gpu.Fft;
using Tomalign.Kernels;

namespace Tomalign.Gpu;

/// <summary>
/// <see cref="IPairCorrelator"/> on an ILGPU accelerator: the views go up once; then, per chunk
/// of pairs that fits in device memory, one launch prepares every image (stretch, clip, taper,
/// pad), one batched FFT (cuFFT on CUDA, the Stockham kernels elsewhere) transforms them, one
/// launch forms the filtered cross-power spectra, one batched inverse FFT makes the maps and two
/// launches find the peaks; only 3 floats per pair and 2 energies per image come back.
/// </summary>
public sealed class GpuPairCorrelator : IPairCorrelator, IDisposable
{
    private readonly Accelerator _accelerator;
    private readonly IDeviceFft2D _fft;
    private readonly DeviceMemoryMeter _meter;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, CorrelationShape> _prepare;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, CorrelationShape> _crossPower;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>, CorrelationShape> _energyRows;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, CorrelationShape> _rowMax;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, CorrelationShape> _pairPeak;

    /// <param name="meter">counts the device memory; null: a meter of its own, without a limit (and <paramref name="fft"/>'s, when given).</param>
    public GpuPairCorrelator(Accelerator accelerator, IDeviceFft2D? fft = null, DeviceMemoryMeter? meter = null)
    {
        _accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        _meter = meter ?? new DeviceMemoryMeter(accelerator);
        _fft = fft ?? DeviceFft.Create(_meter);
        _prepare = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, CorrelationShape>(CorrelationKernels.Prepare);
        _crossPower = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, CorrelationShape>(CorrelationKernels.CrossPower);
        _energyRows = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>, CorrelationShape>(CorrelationKernels.EnergyRows);
        _rowMax = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, CorrelationShape>(CorrelationKernels.RowMax);
        _pairPeak = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, CorrelationShape>(CorrelationKernels.PairPeak);
    }

    public string FftName => _fft.Name;

    /// <summary>Overrides the device memory the chunking assumes (tests force several chunks with it).</summary>
    public long? MemoryBudgetOverride { get; set; }

    public CorrelationPeak[] Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<ViewStatistics> statistics,
        ReadOnlySpan<CorrelationPair> pairs, CorrelationSettings settings)
    {
        CorrelationArguments.Validate(views.Length, nx, ny, nz, statistics.Length, pairs, settings);
        var result = new CorrelationPeak[pairs.Length];
        if (pairs.Length == 0) return result;
        int px = settings.PaddedWidth, py = settings.PaddedHeight, w = px / 2 + 1;
        long frame = (long)px * py, half = 2L * w * py;
        var shape = new CorrelationShape(nx, ny, px, py, settings.TaperPixels, Math.Min(settings.MaxShift, Math.Max(px, py)), settings.ExcludeCentralPeak ? 1 : 0,
            settings.NormalizeOverlap ? (float)CorrelationSettings.MinimumOverlap : 0f);

        var plan = DeviceMemoryPlan.PairCorrelation(views.Length, nx, ny, px, py, pairs.Length, MemoryBudgetOverride ?? _accelerator.MemorySize);
        if (!plan.Fits) throw DeviceMemoryPlan.TooSmall($"correlating one pair of {px}×{py} frames ({nz} views of {nx}×{ny} on the device)", plan.Bytes, plan.BudgetBytes);
        int chunk = plan.PerChunk;
        LastPairsPerChunk = chunk;
        try { return Correlate(views, statistics, pairs, settings, chunk, shape, result); }
        finally { _fft.ReleaseWork(); }   // the FFT's work buffers are part of this call's plan, not kept for the next
    }

    /// <summary>Pairs per chunk of the last call (for logs and tests).</summary>
    public int LastPairsPerChunk { get; private set; }

    private CorrelationPeak[] Correlate(ReadOnlySpan<float> views, ReadOnlySpan<ViewStatistics> statistics, ReadOnlySpan<CorrelationPair> pairs,
        CorrelationSettings settings, int chunk, CorrelationShape shape, CorrelationPeak[] result)
    {
        int nx = shape.Nx, ny = shape.Ny, px = settings.PaddedWidth, py = settings.PaddedHeight, w = px / 2 + 1;
        long frame = (long)px * py, half = 2L * w * py;
        using var viewBuffer = _meter.Allocate1D<float>(views.Length);
        viewBuffer.View.SubView(0, views.Length).CopyFromCPU(ref MemoryMarshal.GetReference(views), views.Length);
        using var filterBuffer = _meter.Allocate1D(settings.Filter.HalfSpectrumTable(px, py));
        using var overlapX = _meter.Allocate1D(settings.OverlapTable(nx, px));
        using var overlapY = _meter.Allocate1D(settings.OverlapTable(ny, py));
        using var imageView = _meter.Allocate1D<int>(2 * chunk);
        using var parameters = _meter.Allocate1D<float>(2 * chunk * CorrelationKernels.ParametersPerImage);
        using var prepared = _meter.Allocate1D<float>(2 * chunk * frame);
        using var spectra = _meter.Allocate1D<float>(2 * chunk * half);
        using var product = _meter.Allocate1D<float>(chunk * half);
        using var maps = _meter.Allocate1D<float>(chunk * frame);
        using var energyRows = _meter.Allocate1D<double>(2 * chunk * py);
        using var rowValue = _meter.Allocate1D<float>(chunk * py);
        using var rowX = _meter.Allocate1D<int>(chunk * py);
        using var peaks = _meter.Allocate1D<float>(3 * chunk);

        for (int start = 0; start < pairs.Length; start += chunk)
        {
            int count = Math.Min(chunk, pairs.Length - start);
            var ids = new int[2 * count];
            var par = new float[2 * count * CorrelationKernels.ParametersPerImage];
            for (int p = 0; p < count; p++)
            {
                var pair = pairs[start + p];
                for (int k = 0; k < 2; k++)
                {
                    int img = 2 * p + k, view = k == 0 ? pair.Reference : pair.Moving;
                    var inv = k == 0 ? Core.Geometry.Xf.Identity : pair.MovingStretch.Inverse();
                    var (lo, hi) = settings.ClipBounds(statistics[view]);
                    int o = img * CorrelationKernels.ParametersPerImage;
                    ids[img] = view;
                    par[o] = (float)inv.A11; par[o + 1] = (float)inv.A12; par[o + 2] = (float)inv.A21; par[o + 3] = (float)inv.A22;
                    par[o + 4] = (float)statistics[view].Mean; par[o + 5] = lo; par[o + 6] = hi;
                }
            }
            imageView.View.SubView(0, ids.Length).CopyFromCPU(ids);
            parameters.View.SubView(0, par.Length).CopyFromCPU(par);

            var prep = prepared.View.SubView(0, 2 * count * frame);
            var spec = spectra.View.SubView(0, 2 * count * half);
            var prod = product.View.SubView(0, count * half);
            var map = maps.View.SubView(0, count * frame);
            _prepare((int)prep.Length, viewBuffer.View, imageView.View, parameters.View, prep, shape);
            _fft.Forward(prep, spec, px, py, 2 * count);
            _energyRows(2 * count * py, spec, filterBuffer.View, energyRows.View, shape);
            _crossPower((int)(prod.Length / 2), spec, filterBuffer.View, prod, shape);
            _fft.Inverse(prod, map, px, py, count);
            _rowMax(count * py, map, overlapX.View, overlapY.View, rowValue.View, rowX.View, shape);
            _pairPeak(count, map, overlapX.View, overlapY.View, rowValue.View, rowX.View, peaks.View, shape);
            _accelerator.Synchronize();

            var peakHost = peaks.View.SubView(0, 3 * count).GetAsArray1D();
            var energyHost = energyRows.View.SubView(0, 2 * count * py).GetAsArray1D();
            for (int p = 0; p < count; p++)
            {
                double er = 0, em = 0;
                for (int j = 0; j < py; j++) { er += energyHost[2 * p * py + j]; em += energyHost[(2 * p + 1) * py + j]; }
                double norm = Math.Sqrt(er / frame * (em / frame));
                double strength = norm > 0 ? peakHost[3 * p + 2] / frame / norm : 0;
                result[start + p] = new CorrelationPeak(peakHost[3 * p], peakHost[3 * p + 1], double.IsFinite(strength) ? strength : 0);
            }
        }
        return result;
    }

    public void Dispose() => _fft.Dispose();
}
