using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Cpu;
using Tomalign.Gpu;
using Tomalign.Gpu.Fft;
using Tomalign.Tests.Fft;
using Xunit;

namespace Tomalign.Tests.Coarse;

/// <summary>Analytic test images: sums of Gaussian blobs, so shifted and stretched copies are exact.</summary>
internal static class BlobImages
{
    public sealed record Blob(double X, double Y, double Sigma, double Amplitude);

    public static Blob[] Random(int count, double extent, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => new Blob(
            (rng.NextDouble() - 0.5) * extent, (rng.NextDouble() - 0.5) * extent,
            1.0 + 1.5 * rng.NextDouble(), rng.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>
    /// Renders blobs given relative to the centre (nx/2, ny/2), each moved by <paramref name="map"/>
    /// (centred coordinates in → centred coordinates out), plus a constant background.
    /// </summary>
    public static void Render(Span<float> dst, int nx, int ny, IEnumerable<Blob> blobs, Func<double, double, (double, double)> map, double background = 10)
    {
        for (int i = 0; i < nx * ny; i++) dst[i] = (float)background;
        foreach (var b in blobs)
        {
            var (cx, cy) = map(b.X, b.Y);
            cx += nx / 2.0; cy += ny / 2.0;
            int r = (int)Math.Ceiling(4 * b.Sigma);
            for (int y = Math.Max(0, (int)cy - r); y <= Math.Min(ny - 1, (int)cy + r); y++)
                for (int x = Math.Max(0, (int)cx - r); x <= Math.Min(nx - 1, (int)cx + r); x++)
                {
                    double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                    dst[y * nx + x] += (float)(b.Amplitude * Math.Exp(-d2 / (2 * b.Sigma * b.Sigma)));
                }
        }
    }
}

public abstract class PairCorrelatorTestBody
{
    protected abstract IPairCorrelator Correlator { get; }

    /// <summary>
    /// nz views, view k = the blob field shifted by shifts[k] (view 0 unshifted): the peak of the
    /// pair (reference 0, moving k) must be shifts[0] − shifts[k] = −shifts[k] (content at x in the
    /// moving view lies at x − shift[k] in the reference).
    /// </summary>
    protected (float[] Views, (double X, double Y)[] Shifts) ShiftedViews(int n, int nz, double maxShift, int seed)
    {
        var blobs = BlobImages.Random(n * n / 12, n * 0.9, seed);
        var rng = new Random(seed + 1);
        var views = new float[n * n * nz];
        var shifts = new (double X, double Y)[nz];
        for (int k = 0; k < nz; k++)
        {
            shifts[k] = k == 0 ? (0, 0) : ((rng.NextDouble() * 2 - 1) * maxShift, (rng.NextDouble() * 2 - 1) * maxShift);
            var s = shifts[k];
            BlobImages.Render(views.AsSpan(k * n * n, n * n), n, n, blobs, (x, y) => (x + s.X, y + s.Y));
        }
        return (views, shifts);
    }

    protected CorrelationPeak[] Run(float[] views, int n, int nz, CorrelationPair[] pairs, CorrelationSettings settings) =>
        Correlator.Correlate(views, n, n, nz, ViewStatisticsCalculator.Compute(views, n, n, nz), pairs, settings);

    protected void CheckRecoversShifts(int n, int nz)
    {
        var (views, shifts) = ShiftedViews(n, nz, n / 10.0, seed: 5);
        var pairs = Enumerable.Range(1, nz - 1).Select(k => new CorrelationPair(0, k, Xf.Identity)).ToArray();
        int p = Core.Fft.FftSize.NextGoodEven(n + n / 8);
        var settings = new CorrelationSettings(p, p, n / 10, new BandPassFilter(0.02, 0.35, 0.05));
        var peaks = Run(views, n, nz, pairs, settings);
        for (int k = 1; k < nz; k++)
        {
            var pk = peaks[k - 1];
            Assert.True(Math.Abs(pk.Dx + shifts[k].X) < 0.15 && Math.Abs(pk.Dy + shifts[k].Y) < 0.15,
                $"pair {k}: peak ({pk.Dx:F3}, {pk.Dy:F3}), expected ({-shifts[k].X:F3}, {-shifts[k].Y:F3})");
            Assert.InRange(pk.Strength, 0.5, 1.0001);
        }
    }

    protected void CheckStretchRecoversForeshortenedView(int n)
    {
        // Moving view: the field foreshortened by cos(60°)/cos(0°) = 0.5 perpendicular to an axis at
        // 30° (CCW from +Y), then shifted; stretching it by 2 perpendicular to the axis restores it.
        double alpha = 30 * Math.PI / 180, ux = Math.Cos(alpha), uy = Math.Sin(alpha), f = 0.5;
        var blobs = BlobImages.Random(n * n / 10, n * 0.9, 11);
        var views = new float[2 * n * n];
        (double X, double Y) shift = (2.6, -1.3);
        BlobImages.Render(views.AsSpan(0, n * n), n, n, blobs, (x, y) => (x, y));
        BlobImages.Render(views.AsSpan(n * n, n * n), n, n, blobs, (x, y) =>
        {
            double along = x * ux + y * uy;
            return (x + (f - 1) * along * ux + shift.X, y + (f - 1) * along * uy + shift.Y);
        });
        var stretch = new Xf(1 + (1 / f - 1) * ux * ux, (1 / f - 1) * ux * uy, (1 / f - 1) * ux * uy, 1 + (1 / f - 1) * uy * uy, 0, 0);
        int p = Core.Fft.FftSize.NextGoodEven(n + n / 8);
        var settings = new CorrelationSettings(p, p, n / 10, new BandPassFilter(0.02, 0.35, 0.05));
        var stretched = Run(views, n, 2, new[] { new CorrelationPair(0, 1, stretch) }, settings)[0];
        var plain = Run(views, n, 2, new[] { new CorrelationPair(0, 1, Xf.Identity) }, settings)[0];
        // In the stretched frame the shift is S·shift.
        double ex = -(stretch.A11 * shift.X + stretch.A12 * shift.Y), ey = -(stretch.A21 * shift.X + stretch.A22 * shift.Y);
        Assert.True(Math.Abs(stretched.Dx - ex) < 0.3 && Math.Abs(stretched.Dy - ey) < 0.3,
            $"stretched peak ({stretched.Dx:F2}, {stretched.Dy:F2}), expected ({ex:F2}, {ey:F2})");
        Assert.True(stretched.Strength > plain.Strength + 0.1, $"stretch should raise the peak: {stretched.Strength:F3} vs {plain.Strength:F3}");
    }
}

public sealed class PairCorrelatorTests_Cpu : PairCorrelatorTestBody
{
    protected override IPairCorrelator Correlator { get; } = new CpuPairCorrelator(pairsPerChunk: 3);

    [Fact] public void RecoversShifts() => CheckRecoversShifts(96, 6);
    [Fact] public void StretchRecoversForeshortenedView() => CheckStretchRecoversForeshortenedView(128);

    [Fact]
    public void ExcludeCentralPeakSkipsFixedPattern()
    {
        int n = 64;
        var (views, shifts) = ShiftedViews(n, 2, 6, seed: 3);
        // A strong fixed pattern (same in both views, e.g. a camera defect) pulls the peak to 0.
        var rng = new Random(4);
        var pattern = Enumerable.Range(0, n * n).Select(_ => (float)(rng.NextDouble() * 3)).ToArray();
        for (int k = 0; k < 2; k++) for (int i = 0; i < n * n; i++) views[k * n * n + i] += pattern[i];
        var pairs = new[] { new CorrelationPair(0, 1, Xf.Identity) };
        var plain = Run(views, n, 2, pairs, new CorrelationSettings(72, 72, 6, BandPassFilter.None, maxShift: 12));
        var excluded = Run(views, n, 2, pairs, new CorrelationSettings(72, 72, 6, BandPassFilter.None, excludeCentralPeak: true, maxShift: 12));
        Assert.True(Math.Abs(plain[0].Dx) <= 1 && Math.Abs(plain[0].Dy) <= 1, $"fixed pattern should dominate without exclusion: {plain[0]}");
        Assert.True(Math.Abs(excluded[0].Dx + shifts[1].X) < 0.5 && Math.Abs(excluded[0].Dy + shifts[1].Y) < 0.5, $"excluded: {excluded[0]}, shift {shifts[1]}");
    }

    [Fact]
    public void BlankViewGivesZeroStrengthNotNaN()
    {
        int n = 32;
        var views = new float[2 * n * n];
        BlobImages.Render(views.AsSpan(0, n * n), n, n, BlobImages.Random(40, n * 0.8, 1), (x, y) => (x, y));
        var peak = Run(views, n, 2, new[] { new CorrelationPair(0, 1, Xf.Identity) }, new CorrelationSettings(36, 36, 3, new BandPassFilter()))[0];
        Assert.True(double.IsFinite(peak.Dx) && double.IsFinite(peak.Dy));
        Assert.Equal(0, peak.Strength, 6);
    }

    [Fact]
    public void FilterMatchesImodDefinition()
    {
        var f = new BandPassFilter(0.03, 0.25, 0.05);
        Assert.Equal(0, f.Value(0), 12);
        Assert.Equal(1 - Math.Exp(-0.5), f.Value(0.03), 12);
        Assert.Equal(1 - Math.Exp(-0.01 * 0.01 / (2 * 0.03 * 0.03)) , f.Value(0.01), 12);
        Assert.Equal((1 - Math.Exp(-0.25 * 0.25 / 0.0018)), f.Value(0.25), 12);
        Assert.Equal((1 - Math.Exp(-0.30 * 0.30 / 0.0018)) * Math.Exp(-0.5), f.Value(0.30), 12);
        Assert.Equal(1, BandPassFilter.None.Value(0.4), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BandPassFilter(-1, 0, 0));
    }
}

public sealed class PairCorrelatorTests_IlgpuCpu : PairCorrelatorTestBody, IClassFixture<IlgpuCpuFixture>
{
    private readonly IlgpuCpuFixture _fixture;
    public PairCorrelatorTests_IlgpuCpu(IlgpuCpuFixture fixture) { _fixture = fixture; Correlator = new GpuPairCorrelator(fixture.Accelerator); }
    protected override IPairCorrelator Correlator { get; }

    [Fact] public void RecoversShifts() => CheckRecoversShifts(54, 3);

    /// <summary>
    /// GPU kernels against the managed twin at 64×64, 5 pairs with stretch, clip, filter and
    /// central-peak exclusion, chunked (memory budget forced small): peaks within 0.01 px
    /// (float maps on both sides; the only differences are float rounding in the FFTs).
    /// </summary>
    [Fact]
    public void AgreesWithCpuWithin001Pixel()
    {
        int n = 64, nz = 6, seed = Random.Shared.Next(1_000_000_000);   // a fresh seed each run, printed on failure
        var (views, _) = ShiftedViews(n, nz, 8, seed: seed);
        var rng = new Random(seed + 7);
        for (int i = 0; i < views.Length; i += 97) views[i] += (float)(rng.NextDouble() * 20); // hot pixels for the clip
        var pairs = Enumerable.Range(1, nz - 1).Select(k =>
        {
            double s = 1 + 0.03 * k, a = (10 * k) * Math.PI / 180, ux = Math.Cos(a), uy = Math.Sin(a);
            return new CorrelationPair(k - 1, k, new Xf(1 + (s - 1) * ux * ux, (s - 1) * ux * uy, (s - 1) * ux * uy, 1 + (s - 1) * uy * uy, 0, 0));
        }).ToArray();
        var settings = new CorrelationSettings(72, 75, 6, new BandPassFilter(0.03, 0.25, 0.05), clipStdDevs: 3, excludeCentralPeak: true, maxShift: 30);
        var stats = ViewStatisticsCalculator.Compute(views, n, n, nz);
        var cpu = new CpuPairCorrelator(pairsPerChunk: 2).Correlate(views, n, n, nz, stats, pairs, settings);
        var gpuCorrelator = new GpuPairCorrelator(_fixture.Accelerator, new StockhamDeviceFft(_fixture.Accelerator))
        { MemoryBudgetOverride = 2L * 64 * 75 * 72 * 4 * 12 };
        var gpu = gpuCorrelator.Correlate(views, n, n, nz, stats, pairs, settings);
        Assert.Equal(pairs.Length, gpu.Length);
        for (int p = 0; p < pairs.Length; p++)
        {
            Assert.True(Math.Abs(cpu[p].Dx - gpu[p].Dx) <= 0.01 && Math.Abs(cpu[p].Dy - gpu[p].Dy) <= 0.01,
                $"seed {seed}, pair {p}: cpu ({cpu[p].Dx:F4}, {cpu[p].Dy:F4}) gpu ({gpu[p].Dx:F4}, {gpu[p].Dy:F4})");
            Assert.True(Math.Abs(cpu[p].Strength - gpu[p].Strength) <= 1e-3, $"seed {seed}, pair {p}: strength cpu {cpu[p].Strength} gpu {gpu[p].Strength}");
            Assert.True(cpu[p].Strength > 0.2, $"seed {seed}, pair {p} should correlate: {cpu[p].Strength}");
        }
    }
}

/// <summary>The correlator on CUDA with cuFFT: skipped where no CUDA device is present.</summary>
public sealed class PairCorrelatorTests_Cuda : PairCorrelatorTestBody, IClassFixture<CudaFixture>
{
    private readonly CudaFixture _fixture;
    private IPairCorrelator? _correlator;
    public PairCorrelatorTests_Cuda(CudaFixture fixture) => _fixture = fixture;
    protected override IPairCorrelator Correlator => _correlator ??= new GpuPairCorrelator(_fixture.Accelerator!);

    [SkippableFact]
    public void RecoversShifts()
    {
        Skip.If(_fixture.Accelerator is null, _fixture.SkipReason);
        Assert.Equal("cufft", ((GpuPairCorrelator)Correlator).FftName);
        CheckRecoversShifts(256, 9);
    }

    [SkippableFact]
    public void AgreesWithCpuWithin001Pixel()
    {
        Skip.If(_fixture.Accelerator is null, _fixture.SkipReason);
        int n = 256, nz = 9;
        var (views, _) = ShiftedViews(n, nz, 20, seed: 31);
        var pairs = Enumerable.Range(1, nz - 1).Select(k => new CorrelationPair(k - 1, k, new Xf(1 + 0.01 * k, 0, 0, 1, 0, 0))).ToArray();
        var settings = new CorrelationSettings(288, 270, 20, new BandPassFilter(0.03, 0.25, 0.05), clipStdDevs: 3, excludeCentralPeak: true);
        var stats = ViewStatisticsCalculator.Compute(views, n, n, nz);
        var cpu = new CpuPairCorrelator().Correlate(views, n, n, nz, stats, pairs, settings);
        var gpu = Correlator.Correlate(views, n, n, nz, stats, pairs, settings);
        for (int p = 0; p < pairs.Length; p++)
            Assert.True(Math.Abs(cpu[p].Dx - gpu[p].Dx) <= 0.01 && Math.Abs(cpu[p].Dy - gpu[p].Dy) <= 0.01,
                $"pair {p}: cpu ({cpu[p].Dx:F4}, {cpu[p].Dy:F4}) cuda ({gpu[p].Dx:F4}, {gpu[p].Dy:F4})");
    }
}
