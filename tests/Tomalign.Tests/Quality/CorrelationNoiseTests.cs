using Tomalign.Core.Coarse;
using Tomalign.Core.Imaging;
using Tomalign.Core.Quality;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Quality;

/// <summary>The chance peak strength of the coarse correlation, against the coarse stage itself on views of pure noise.</summary>
public sealed class CorrelationNoiseTests(ITestOutputHelper output)
{
    /// <summary>
    /// Views of independent Gaussian noise (nothing in common) through the coarse stage with its default settings: the
    /// pairs' strengths are chance peaks, and their median is the expected chance peak within 20 %; a stack of views that
    /// do share content (the same noise image shifted) gives peaks far above it.
    /// </summary>
    [Theory]
    [InlineData(128, 128)]
    [InlineData(256, 192)]
    [InlineData(512, 512)]
    public void ExpectedPeakMatchesTheCoarseStageOnUnrelatedViews(int nx, int ny)
    {
        const int nz = 21;
        var rng = new Random(nx + ny);
        var stack = new ImageStack(nx, ny, nz);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = (float)(100 + 10 * Gaussian(rng));
        var tilts = Enumerable.Range(0, nz).Select(i => -30.0 + 3 * i).ToArray();
        // One fixed setting (no retries with other binnings and filters, which would keep the best of several chance peaks), the
        // band-pass the chance model was calibrated on (SearchFactor); with etomo's wider band-pass the model is 1.37× low.
        var options = new CoarseAlignOptions { TiltAxisDegrees = 0, Bin = 1, Adaptive = false, TrustChecks = false, Filter = new BandPassFilter(0.02, 0.06, 0.03), ClipStdDevs = 2.0 };
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(stack, tilts, options);
        var settings = CoarseAligner.CorrelationSettingsFor(nx, ny, result.Bin, options, result.Filter);
        double expected = CorrelationNoise.ExpectedPeak(settings);
        var strengths = result.Pairs.Select(p => p.Strength).OrderBy(s => s).ToArray();
        double median = strengths[strengths.Length / 2];
        output.WriteLine($"{nx}×{ny}: chance strengths {strengths[0]:F4} … median {median:F4} … {strengths[^1]:F4}; expected {expected:F4} (ratio {median / expected:F3})");
        Assert.InRange(median / expected, 0.8, 1.2);

        // The same noise image in every view, shifted by a few pixels: a real match stands far above chance.
        var shared = new ImageStack(nx, ny, nz);
        for (int z = 0; z < nz; z++)
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++)
                    shared.Data[(z * ny + y) * nx + x] = stack.Data[y * nx + Math.Clamp(x + z % 3, 0, nx - 1)] + (float)(3 * Gaussian(rng));
        var matched = new CoarseAligner(new CpuPairCorrelator()).Align(shared, Enumerable.Repeat(0.0, nz).ToArray(), options);
        double weakest = matched.Pairs.Min(p => p.Strength);
        output.WriteLine($"shared content: weakest strength {weakest:F4}");
        Assert.True(weakest > 3 * expected, $"weakest real peak {weakest:F4} vs chance {expected:F4}");
    }

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
