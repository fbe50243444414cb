using Tomalign.Core.Imaging;
using Tomalign.Core.Quality;
using Tomalign.Core.Solve;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Quality;

public sealed class CentringPrecisionTests(ITestOutputHelper output)
{
    /// <summary>
    /// Gaussian beads b = A·exp(−r²/2s²) in white noise σ_n at known sub-pixel centres: Σ(∂b/∂x)² = A²·π/2, so the bound is
    /// σ_n / (|A|·√(π/2)). The estimate from the images (mean template, ring noise) agrees within 15 %, and halves when the
    /// beads have twice the contrast.
    /// </summary>
    [Theory]
    [InlineData(5.0)]
    [InlineData(10.0)]
    public void TheBoundOfGaussianBeadsInWhiteNoiseIsTheAnalyticOne(double contrast)
    {
        const int nx = 256, ny = 256, nz = 8;
        const double s = 2, noise = 1;
        var rng = new Random(11);
        var stack = new ImageStack(nx, ny, nz);
        var observations = new List<LandmarkObservation>();
        for (int z = 0; z < nz; z++)
        {
            var view = stack.Data.AsSpan(z * nx * ny, nx * ny);
            for (int i = 0; i < view.Length; i++) view[i] = (float)(100 + noise * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
            for (int by = 20; by < ny - 20; by += 24)
                for (int bx = 20; bx < nx - 20; bx += 24)
                {
                    double cx = bx + rng.NextDouble(), cy = by + rng.NextDouble();
                    for (int y = by - 8; y <= by + 9; y++)
                        for (int x = bx - 8; x <= bx + 9; x++)
                            view[y * nx + x] -= (float)(contrast * Math.Exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * s * s)));
                    observations.Add(new LandmarkObservation(observations.Count, z, cx, cy));
                }
        }
        double expected = noise / (contrast * Math.Sqrt(Math.PI / 2));
        double? bound = CentringPrecision.BeadBound(stack, observations, diameter: 2 * 2 * s);
        output.WriteLine($"contrast {contrast}: bound {bound:F4} px, analytic {expected:F4} px");
        Assert.NotNull(bound);
        Assert.InRange(bound!.Value / expected, 0.85, 1.15);
    }

    [Fact]
    public void TooFewBeadsGiveNoBound()
    {
        var stack = new ImageStack(64, 64, 1);
        Assert.Null(CentringPrecision.BeadBound(stack, [new LandmarkObservation(0, 0, 32, 32)], 6));
    }
}
