using Tomalign.Core.Refine;
using Xunit;

namespace Tomalign.Tests.Refine;

/// <summary>
/// The axis-profile refiner's building blocks against answers worked out from their definitions: the Gaussian smoothing
/// of a profile, the running-mean high-pass, the strip profile at the edges of the view, the fit's weight, and the
/// weighted polynomial smoothing of the corrections over the tilts.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class AxisProfileHelperTests
{
    [Fact]
    public void GaussianSmoothingOfAnImpulseIsTheNormalisedKernel()
    {
        const double sigma = 1.5;
        int r = (int)Math.Ceiling(3 * sigma);   // the kernel reaches 3σ
        var p = new double[41];
        p[20] = 1;
        var s = AxisProfileRefiner.Smooth(p, sigma);
        double norm = Enumerable.Range(-r, 2 * r + 1).Sum(i => Math.Exp(-i * i / (2 * sigma * sigma)));
        for (int i = 0; i < p.Length; i++)
        {
            int d = i - 20;
            double expected = Math.Abs(d) <= r ? Math.Exp(-d * d / (2 * sigma * sigma)) / norm : 0;
            Assert.Equal(expected, s[i], 12);
        }
        Assert.Equal(1, s.Sum(), 12);
    }

    [Fact]
    public void GaussianSmoothingKeepsARampInsideAndClampsTheEdges()
    {
        var ramp = Enumerable.Range(0, 30).Select(i => 2.0 * i - 7).ToArray();
        var s = AxisProfileRefiner.Smooth(ramp, 2);
        // A symmetric kernel leaves a straight line where it lies wholly inside (6 samples from either end).
        for (int i = 6; i < 24; i++) Assert.Equal(ramp[i], s[i], 10);
        // At the ends the clamped samples (the end value repeated) pull the line towards the end value.
        Assert.True(s[0] > ramp[0] && s[0] < ramp[1]);
        Assert.True(s[^1] < ramp[^1] && s[^1] > ramp[^2]);
        // A constant stays exactly constant, and σ ≤ 0 changes nothing.
        Assert.All(AxisProfileRefiner.Smooth(Enumerable.Repeat(3.25, 12).ToArray(), 1.2), v => Assert.Equal(3.25, v, 12));
        Assert.Same(ramp, AxisProfileRefiner.Smooth(ramp, 0));
    }

    [Fact]
    public void HighPassRemovesTheRunningMean()
    {
        const int half = 3;
        // A constant and a straight line have nothing left where the window is whole (the mean of a line is its centre value).
        Assert.All(AxisProfileRefiner.HighPass(Enumerable.Repeat(5.0, 20).ToArray(), half), v => Assert.Equal(0, v, 12));
        var line = Enumerable.Range(0, 20).Select(i => 0.5 * i + 1).ToArray();
        var h = AxisProfileRefiner.HighPass(line, half);
        for (int i = half; i < 20 - half; i++) Assert.Equal(0, h[i], 12);
        // At the first sample the window is 0…3: mean 0.5·1.5 + 1 = 1.75, so 1 − 1.75.
        Assert.Equal(-0.75, h[0], 12);
        // The last: window 16…19, mean 0.5·17.5 + 1 = 9.75; 10.5 − 9.75.
        Assert.Equal(0.75, h[^1], 12);
        // An impulse: 1 − 1/7 at its own place, −1/7 within the window, 0 beyond.
        var p = new double[20];
        p[10] = 1;
        var hi = AxisProfileRefiner.HighPass(p, half);
        Assert.Equal(1 - 1.0 / 7, hi[10], 12);
        Assert.Equal(-1.0 / 7, hi[7], 12);
        Assert.Equal(-1.0 / 7, hi[13], 12);
        Assert.Equal(0, hi[6], 12);
        Assert.Equal(0, hi[14], 12);
    }

    [Fact]
    public void StripProfileAtTheEdgesOfTheView()
    {
        // Two rows of 10 columns: row 0 holds the column index, row 1 ten times it.
        var view = Enumerable.Range(0, 20).Select(i => (float)(i < 10 ? i : 10 * (i - 10))).ToArray();
        // Column i stands for [i − 0.5, i + 0.5]. A strip hanging off the left edge (−3…1.5) holds columns 0 and 1 whole
        // (nothing beyond the view): (0 + 1) / 2, and (0 + 10) / 2 in row 1.
        var p = AxisProfileRefiner.StripProfile(view, 10, 2, 0, -3, 1.5);
        Assert.Equal(0.5, p[0], 12);
        Assert.Equal(5, p[1], 12);
        // Off the right edge (8.5…20): column 9 whole, nothing of column 8.
        var q = AxisProfileRefiner.StripProfile(view, 10, 2, 0, 8.5, 20);
        Assert.Equal(9, q[0], 12);
        Assert.Equal(90, q[1], 12);
        // Within the view, an edge column counts by the share it covers: 3.5…5.25 holds 4 whole and a quarter of 5 (4.5…5.25 of 4.5…5.5).
        Assert.Equal((4 + 0.75 * 5) / 1.75, AxisProfileRefiner.StripProfile(view, 10, 2, 0, 3.5, 5.25)[0], 12);
        // Wholly outside, or empty: zeros.
        Assert.All(AxisProfileRefiner.StripProfile(view, 10, 2, 0, 12, 15), v => Assert.Equal(0, v));
        Assert.All(AxisProfileRefiner.StripProfile(view, 10, 2, 0, 4, 4), v => Assert.Equal(0, v));
        // The second view of a stack is read from its own data.
        var two = view.Concat(view.Select(v => v + 100)).ToArray();
        Assert.Equal(104, AxisProfileRefiner.StripProfile(two, 10, 2, 1, 3.5, 4.5)[0], 12);
    }

    [Fact]
    public void TheFitsWeightIsItsMatchesOverTheirResidualVariance()
    {
        var rng = new Random(9);
        double t = -0.4, mu = 0.001, eps = 0.002, sd = 0.05;
        var rows = new List<(double X, double Y, double D, double W)>();
        for (int k = 0; k < 8; k++)
            for (int j = 0; j < 8; j++)
            {
                double x = -150 + 40 * k, y = -150 + 40 * j;
                double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                rows.Add((x, y, t + mu * y + eps * x + sd * g, 1));
            }
        var (ft, fmu, feps, weight) = AxisProfileRefiner.Fit(rows);
        double residualVariance = rows.Average(r => Math.Pow(r.D - ft - fmu * r.Y - feps * r.X, 2));
        Assert.Equal(rows.Count / residualVariance, weight, 6);
        // 64 matches of SD 0.05: about 64 / 0.0025 (three parameters fitted take a little of the variance).
        Assert.InRange(weight, 64 / (1.5 * sd * sd), 64 / (0.6 * sd * sd));
        // Exact data: the variance is floored at 1e-4, so the weight is the count over that.
        var exact = rows.Select(r => r with { D = t + mu * r.Y + eps * r.X }).ToList();
        var e = AxisProfileRefiner.Fit(exact);
        Assert.Equal(64 / 1e-4, e.Weight, 3);
        Assert.Equal(t, e.T, 9); Assert.Equal(mu, e.Mu, 12); Assert.Equal(eps, e.Eps, 12);
        // Fewer than four matches: nothing is fitted and the view has no weight.
        Assert.Equal((0.0, 0.0, 0.0, 0.0), AxisProfileRefiner.Fit(rows.Take(3).ToList()));
    }

    [Fact]
    public void WeightedSmoothingOfTheCorrectionsIgnoresAViewWithoutWeight()
    {
        var tilts = Enumerable.Range(0, 9).Select(i => -40.0 + 10 * i).ToArray();
        // Straight lines in the tilt (radians), one view far off it but with weight 0.
        var c = tilts.Select(t => (T: 0.3 + 2 * t * Math.PI / 180, Mu: -0.001 * t * Math.PI / 180, Eps: 0.0005 + 0.0 * t)).ToArray();
        c[2] = (50, 1, -1);
        var w = Enumerable.Repeat(1.0, 9).ToArray();
        w[2] = 0;
        var s = AxisProfileRefiner.Smooth(c, tilts, 1, w);
        for (int i = 0; i < 9; i++)
        {
            double th = tilts[i] * Math.PI / 180;
            Assert.Equal(0.3 + 2 * th, s[i].T, 9);
            Assert.Equal(-0.001 * th, s[i].Mu, 12);
            Assert.Equal(0.0005, s[i].Eps, 12);
        }
        // Degree 0 is the weighted mean; a degree beyond the views is cut to what they determine (here a line through two).
        var two = AxisProfileRefiner.Smooth([(1.0, 0.0, 0.0), (4.0, 0.0, 0.0)], [0.0, 30.0], 5);
        Assert.Equal(1, two[0].T, 9); Assert.Equal(4, two[1].T, 9);
        var mean = AxisProfileRefiner.Smooth([(1.0, 0.0, 0.0), (4.0, 0.0, 0.0), (7.0, 0.0, 0.0)], [0.0, 30.0, 60.0], 0, [1.0, 2.0, 0.0]);
        Assert.All(mean, m => Assert.Equal(3, m.T, 9));
    }

    [Fact]
    public void MatchReportsTheCorrelationAtTheBestShift()
    {
        // Identical profiles: best shift 0, correlation 1; a flat profile has no correlation (score 0) and the edge rule gives NaN.
        var rng = new Random(2);
        var p = Enumerable.Range(0, 80).Select(_ => rng.NextDouble()).ToArray();
        var (d, score) = AxisProfileRefiner.Match(p, p, 10, 50, 3);
        Assert.InRange(d, -0.05, 0.05);   // the parabola through the three scores about 0 need not be symmetric
        Assert.Equal(1, score, 9);
        var flat = Enumerable.Repeat(2.0, 80).ToArray();
        var (fd, fs) = AxisProfileRefiner.Match(flat, p, 10, 50, 3);
        Assert.True(double.IsNaN(fd));
        Assert.Equal(0, fs);
        // A negated profile anticorrelates everywhere near zero shift: the best score is low, never 1.
        var (_, ns) = AxisProfileRefiner.Match(p.Select(v => -v).ToArray(), p, 10, 50, 3);
        Assert.True(ns < 0.5, $"score {ns}");
    }
}
