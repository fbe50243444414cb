using Tomalign.Core.Geometry;

namespace Tomalign.Core.Backend.Verification;

/// <summary>One operation checked against its CPU twin on one case.</summary>
public sealed record VerifyResult(string Kernel, string Case, double MaxRelativeError, double Tolerance, bool AllWritten, bool Passed);

/// <summary>
/// Runs every operation of a GPU backend against the managed twin on fresh random inputs
/// (the `verify` command; Auto does not run it before choosing a device). Only needs the backend
/// interfaces, so it lives in Core.
/// </summary>
public static partial class KernelVerifier
{
    /// <summary>
    /// Tolerance of the warp, in units of the reference's peak magnitude (see <see cref="MaxRelativeError"/>), on any
    /// device. The source positions are computed in double from float coefficients (WarpMath.SourceX), so they are
    /// the same bit for bit on every device whether or not its compiler contracts a·b+c into an FMA; what remains
    /// are the interpolation's few float operations, which a GPU may contract: a few ulp of the peak (6e-8 each).
    /// 1e-5 leaves ~100× headroom over that while catching any real mistake (a wrong weight or a 1e-3 px shift
    /// shows as ≥1e-3). With positions in float a GPU was outside it: on an H200 (2026-12-04), FMA contraction moved
    /// a 1025-px image's positions by an ulp (1.2e-4 px) and the output by 2.8e-4 of the peak.
    /// </summary>
    public const double WarpTolerance = 1e-5;

    public static IReadOnlyList<VerifyResult> VerifyAll(IComputeBackend gpu, IComputeBackend cpu, int size, int seed)
    {
        ArgumentNullException.ThrowIfNull(gpu);
        ArgumentNullException.ThrowIfNull(cpu);
        if (size < 4) throw new ArgumentOutOfRangeException(nameof(size), "verify needs images of at least 4×4");
        var results = new List<VerifyResult>();
        var random = new Random(seed);
        // A non-square, odd-by-even size exercises the centre NX/2.0 and the integer division of binning.
        int nx = size + 1, ny = size - (size % 2 == 0 ? 2 : 1), nz = 3;
        foreach (var interpolation in new[] { Interpolation.Linear, Interpolation.Cubic })
            foreach (int bin in new[] { 1, 2 })
                results.Add(VerifyWarp(gpu, cpu, nx, ny, nz, new WarpOptions(bin, interpolation), random));
        results.AddRange(VerifyBundle(gpu, cpu, BundleSizeFor(gpu, size), random));
        // Bead detection: the whole (odd-height) views on a GPU with a 21² template, small ones on the emulator.
        results.Add(gpu.IsGpu ? VerifyTemplateCorrelation(gpu, cpu, size, size - 1, 4, 21, random)
                              : VerifyTemplateCorrelation(gpu, cpu, Math.Min(size, 40), Math.Min(size, 40) - 1, 2, 7, random));
        // Backprojection: a realistic slab on a GPU (16 rows of the full width, 61 views, thickness size/2), a small one on the emulator.
        results.AddRange(gpu.IsGpu ? VerifyBackprojection(gpu, cpu, size, 16, 61, Math.Max(8, size / 2), random)
                                   : VerifyBackprojection(gpu, cpu, Math.Min(size, 48), 2, 7, 12, random));
        results.AddRange(gpu.IsGpu ? VerifyBackprojectionEdges(gpu, cpu, size, 16, 61, Math.Max(16, size / 2), random)
                                   : VerifyBackprojectionEdges(gpu, cpu, Math.Min(size, 40), 3, 7, 16, random));
        // FFT: FFT-friendly, non-square, and odd along y at small sizes (32 → 32×25, 96 → 96×75).
        results.AddRange(VerifyFft(gpu, cpu, Fft.FftSize.NextGood(size), Fft.FftSize.NextGood(size * 3 / 4 + 1), 3, random));
        // Correlation: at most 64 px on ILGPU's CPU emulator (~1 µs per thread), the full size on a GPU.
        results.AddRange(VerifyCorrelations(gpu, cpu, Math.Max(16, gpu.IsGpu ? size : Math.Min(size, 64)), random));
        // Local alignments (reconstruct --local-xf): last, so that the rows above see the same random inputs as before it was added.
        results.AddRange(gpu.IsGpu ? VerifyLocalBackprojection(gpu, cpu, size, 16, 61, Math.Max(8, size / 2), random)
                                   : VerifyLocalBackprojection(gpu, cpu, Math.Min(size, 40), 3, 7, 12, random));
        return results;
    }

    /// <summary>
    /// Tolerance of the FFT, relative to the spectrum's peak: float32 transforms with O(log n)
    /// rounding per output (≈ 6e-8·log2(n)·a few) differ from each other by ≲ 5e-6 at 1024²;
    /// 2e-5 leaves headroom and still catches a wrong twiddle (≥ 1e-3).
    /// </summary>
    public const double FftTolerance = 2e-5;

    /// <summary>Correlation peaks of the two backends must agree within this many pixels.</summary>
    public const double PeakTolerancePixels = 0.01;

    /// <summary>
    /// Peak strengths (normalised correlation coefficients, at most 1) of the two backends must agree within this: float
    /// maps and FFTs on both sides differ by ~1e-5 at these sizes; a wrong normalisation or overlap weight moves it by ≥ 1e-2.
    /// </summary>
    public const double PeakStrengthTolerance = 1e-3;

    /// <summary>Forward and inverse 2-D FFT of fresh random images, GPU against the managed FFT.</summary>
    public static IEnumerable<VerifyResult> VerifyFft(IComputeBackend gpu, IComputeBackend cpu, int nx, int ny, int batch, Random random)
    {
        var real = new float[(long)nx * ny * batch];
        for (int i = 0; i < real.Length; i++) real[i] = (float)(random.NextDouble() * 2 - 1);
        long n = Fft2DArguments.SpectrumLength(nx, ny, batch);
        var expected = new float[n]; var actual = new float[n];
        Array.Fill(expected, float.NaN); Array.Fill(actual, float.NaN);
        cpu.Fft.Forward(real, nx, ny, batch, expected);
        gpu.Fft.Forward(real, nx, ny, batch, actual);
        bool written = !actual.Any(float.IsNaN);
        double error = MaxRelativeError(actual, expected);
        yield return new VerifyResult($"fft ({gpu.Fft.Name})", $"{nx}×{ny}×{batch} forward", error, FftTolerance, written, written && error <= FftTolerance);

        var back = new float[real.Length]; var backCpu = new float[real.Length];
        Array.Fill(back, float.NaN); Array.Fill(backCpu, float.NaN);
        cpu.Fft.Inverse(expected, nx, ny, batch, backCpu);
        gpu.Fft.Inverse(expected, nx, ny, batch, back);
        written = !back.Any(float.IsNaN);
        error = MaxRelativeError(back, backCpu);
        yield return new VerifyResult($"fft ({gpu.Fft.Name})", $"{nx}×{ny}×{batch} inverse", error, FftTolerance, written, written && error <= FftTolerance);
    }

    /// <summary>
    /// Batched pair correlation on a smooth random field and shifted, noisy copies of it (a clear
    /// peak, so both sides pick the same pixel), with stretch, filter and central-peak exclusion:
    /// the largest difference of the sub-pixel peaks, in pixels.
    /// </summary>
    public static VerifyResult VerifyCorrelation(IComputeBackend gpu, IComputeBackend cpu, int size, Random random) =>
        VerifyCorrelations(gpu, cpu, size, random)[0];

    /// <summary>
    /// As <see cref="VerifyCorrelation"/>, from one correlation: the peak positions (pixels), then the peak strengths
    /// (absolute difference, <see cref="PeakStrengthTolerance"/>), which the coarse stage's checks of every pair rely on.
    /// </summary>
    public static VerifyResult[] VerifyCorrelations(IComputeBackend gpu, IComputeBackend cpu, int size, Random random)
    {
        ArgumentNullException.ThrowIfNull(gpu);
        ArgumentNullException.ThrowIfNull(cpu);
        ArgumentNullException.ThrowIfNull(random);
        int nx = size, ny = size - 2, nz = 4;
        var field = new float[nx * ny];
        for (int i = 0; i < field.Length; i++) field[i] = (float)random.NextDouble();
        var views = new float[nx * ny * nz];
        for (int z = 0; z < nz; z++)
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++)
                {
                    float sum = 0;
                    for (int j = -1; j <= 1; j++)
                        for (int i = -1; i <= 1; i++)
                            sum += field[((y + j + 2 * z + ny) % ny) * nx + (x + i - z + nx) % nx];
                    views[(z * ny + y) * nx + x] = sum + 0.2f * (float)random.NextDouble();
                }
        var pairs = Enumerable.Range(1, nz - 1).Select(k => new CorrelationPair(k - 1, k,
            new Geometry.Xf(1 + 0.02 * k, 0.01, 0.01, 1, 0, 0))).ToArray();
        int p = Fft.FftSize.NextGoodEven(size + size / 8);
        var settings = new CorrelationSettings(p, Fft.FftSize.NextGoodEven(ny + size / 8), Math.Max(1, size / 16),
            new Coarse.BandPassFilter(0.03, 0.25, 0.05), excludeCentralPeak: true);
        var stats = ViewStatisticsCalculator.Compute(views, nx, ny, nz);
        var expected = cpu.PairCorrelator.Correlate(views, nx, ny, nz, stats, pairs, settings);
        var actual = gpu.PairCorrelator.Correlate(views, nx, ny, nz, stats, pairs, settings);
        double worst = 0, worstStrength = 0;
        bool finite = actual.Length == expected.Length, finiteStrength = finite;
        for (int i = 0; finite && i < pairs.Length; i++)
        {
            finite &= double.IsFinite(actual[i].Dx) && double.IsFinite(actual[i].Dy);
            finiteStrength &= double.IsFinite(actual[i].Strength);
            worst = Math.Max(worst, Math.Max(Math.Abs(actual[i].Dx - expected[i].Dx), Math.Abs(actual[i].Dy - expected[i].Dy)));
            worstStrength = Math.Max(worstStrength, Math.Abs(actual[i].Strength - expected[i].Strength));
        }
        if (!finite) worst = double.PositiveInfinity;
        if (!finiteStrength) worstStrength = double.PositiveInfinity;
        return
        [
            new VerifyResult("pair correlation", $"{pairs.Length} pairs of {nx}×{ny} (peak px)", worst, PeakTolerancePixels, finite, finite && worst <= PeakTolerancePixels),
            new VerifyResult("pair correlation", $"{pairs.Length} pairs of {nx}×{ny} (peak strength)", worstStrength, PeakStrengthTolerance, finiteStrength,
                finiteStrength && worstStrength <= PeakStrengthTolerance),
        ];
    }

    /// <summary>One warp case on fresh random data and transforms drawn from <paramref name="random"/>.</summary>
    public static VerifyResult VerifyWarp(IComputeBackend gpu, IComputeBackend cpu, int nx, int ny, int nz, WarpOptions options, Random random)
    {
        var source = new float[(long)nx * ny * nz];
        for (int i = 0; i < source.Length; i++) source[i] = (float)(random.NextDouble() * 2 - 1);
        var transforms = RandomTransforms(random, nz, Math.Max(nx, ny));
        var fill = new float[nz];
        for (int z = 0; z < nz; z++) fill[z] = (float)(random.NextDouble() - 0.5);

        long outLength = (long)options.OutputWidth(nx) * options.OutputHeight(ny) * nz;
        var expected = new float[outLength];
        var actual = new float[outLength];
        Array.Fill(expected, float.NaN);
        Array.Fill(actual, float.NaN);
        cpu.Warper.Warp(source, nx, ny, nz, transforms, fill, options, expected);
        gpu.Warper.Warp(source, nx, ny, nz, transforms, fill, options, actual);

        bool allWritten = !actual.Any(float.IsNaN);
        double error = MaxRelativeError(actual, expected);
        double tolerance = WarpTolerance;
        string name = $"{nx}×{ny}×{nz} bin {options.Bin} {options.Interpolation.ToString().ToLowerInvariant()}";
        return new VerifyResult("warp", name, error, tolerance, allWritten, allWritten && error <= tolerance);
    }

    /// <summary>Random IMOD transforms: rotation ±180°, magnification 0.9–1.1, shifts ±extent/4.</summary>
    public static Xf[] RandomTransforms(Random random, int count, int extent)
    {
        var xfs = new Xf[count];
        for (int z = 0; z < count; z++)
        {
            double angle = random.NextDouble() * 360 - 180;
            double mag = 0.9 + 0.2 * random.NextDouble();
            double dx = (random.NextDouble() - 0.5) * extent / 2, dy = (random.NextDouble() - 0.5) * extent / 2;
            xfs[z] = Xf.RotationScale(angle, mag, dx, dy);
        }
        return xfs;
    }

    /// <summary>
    /// max|a−b| / max|b|: the error as a fraction of the reference's peak magnitude. A per-element
    /// relative error would blow up where the reference crosses zero (zero-mean images do, everywhere),
    /// and for float images what matters is error against the dynamic range. NaN or ∞ anywhere, or
    /// different lengths, give +∞. An all-zero reference is compared absolutely (divisor 1).
    /// </summary>
    public static double MaxRelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected) => MaxRelativeErrorOf(actual, expected);

    /// <summary>As the float overload, in double.</summary>
    public static double MaxRelativeError(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected) => MaxRelativeErrorOf(actual, expected);

    private static double MaxRelativeErrorOf<T>(ReadOnlySpan<T> actual, ReadOnlySpan<T> expected) where T : System.Numerics.INumberBase<T>
    {
        if (actual.Length != expected.Length) return double.PositiveInfinity;
        double maxDiff = 0, peak = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double a = double.CreateTruncating(actual[i]), b = double.CreateTruncating(expected[i]);
            if (!double.IsFinite(a) || !double.IsFinite(b)) return double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, Math.Abs(a - b));
            peak = Math.Max(peak, Math.Abs(b));
        }
        return maxDiff / (peak > 0 ? peak : 1.0);
    }
}
