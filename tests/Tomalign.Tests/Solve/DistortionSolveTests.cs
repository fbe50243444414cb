using Tomalign.Core.Geometry;
using Tomalign.Core.Simulation;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Solve;

/// <summary>X-stretch and skew (tiltalign's distortion model): derivatives, the aligning transform, recovery of a known distortion.</summary>
public class DistortionSolveTests(ITestOutputHelper output)
{
    [Fact]
    public void JacobianMatchesFiniteDifferences()
    {
        double[] view = [0.3, 0.5, 1.02, 3, -2, 0.05, 0.013, 0.02];
        double x = 120, y = -80, z = 40, mx = 10, my = -5;
        var jv = new double[14]; var jl = new double[6];
        DistortionModel.Evaluate(view, x, y, z, mx, my, out _, out _, jv, jl);
        int[] stateIndex = [0, 1, 2, 3, 4, 6, 7];
        for (int p = 0; p < 7; p++)
        {
            const double h = 1e-6;
            var a = (double[])view.Clone(); var b = (double[])view.Clone();
            a[stateIndex[p]] += h; b[stateIndex[p]] -= h;
            DistortionModel.Evaluate(a, x, y, z, mx, my, out double ax, out double ay, new double[14], new double[6]);
            DistortionModel.Evaluate(b, x, y, z, mx, my, out double bx, out double by, new double[14], new double[6]);
            Assert.Equal((ax - bx) / (2 * h), jv[p], 4);
            Assert.Equal((ay - by) / (2 * h), jv[7 + p], 4);
        }
        double[] pt = [x, y, z];
        for (int q = 0; q < 3; q++)
        {
            const double h = 1e-4;
            var a = (double[])pt.Clone(); var b = (double[])pt.Clone();
            a[q] += h; b[q] -= h;
            DistortionModel.Evaluate(view, a[0], a[1], a[2], mx, my, out double ax, out double ay, new double[14], new double[6]);
            DistortionModel.Evaluate(view, b[0], b[1], b[2], mx, my, out double bx, out double by, new double[14], new double[6]);
            Assert.Equal((ax - bx) / (2 * h), jl[q], 6);
            Assert.Equal((ay - by) / (2 * h), jl[3 + q], 6);
        }
    }

    [Fact]
    public void ModelAgreesWithViewGeometryAndTheAligningTransformIsTiltaligns()
    {
        var g = new ViewGeometry(40, 8, 1.01, 3, -2, 0, 0.015, 0.7);
        double[] state = [8 * Math.PI / 180, 40 * Math.PI / 180, 1.01, 3, -2, 0, 0.015, 0.7 * Math.PI / 180];
        DistortionModel.Evaluate(state, 100, 50, 30, 0, 0, out double rx, out double ry, new double[14], new double[6]);
        var (px, py) = g.ProjectPoint(100, 50, 30);
        Assert.Equal(px, rx, 9);
        Assert.Equal(py, ry, 9);
        // tiltalign's .tltxf: the aligned image of the specimen's x and y axes is an undistorted view's (cos θ, 0) and (0, 1).
        var f = g.RawToAligned();
        var a = g.LinearPart();
        var (ux, uy) = f.ApplyCentred(a[0] + g.ShiftX, a[3] + g.ShiftY);
        var (vx, vy) = f.ApplyCentred(a[1] + g.ShiftX, a[4] + g.ShiftY);
        Assert.Equal(Math.Cos(40 * Math.PI / 180), ux, 9); Assert.Equal(0, uy, 9);
        Assert.Equal(0, vx, 9); Assert.Equal(1, vy, 9);
        // A point at height z lands off the undistorted aligned position by z times the z factors.
        var (au, av) = f.ApplyCentred(g.ProjectPoint(0, 0, 50).X, g.ProjectPoint(0, 0, 50).Y);
        var (xz, yz) = g.ZFactors();
        Assert.Equal(50 * Math.Sin(40 * Math.PI / 180) + 50 * xz, au, 9);
        Assert.Equal(50 * yz, av, 9);
        Assert.NotEqual(0, yz); // a skew moves points at height z in y
        // Without distortion nothing changes: no z factors, the similarity transform.
        var plain = g with { XStretch = 0, SkewDegrees = 0 };
        Assert.Equal((0.0, 0.0), plain.ZFactors());
        Assert.Equal(Xf.RotationScale(8, 1.01, 3, -2).Inverse(), plain.RawToAligned());
    }

    [Fact]
    public void RecoversAKnownStretchAndSkewOfTheSimulator()
    {
        var o = new SimulationOptions
        {
            Nx = 512, Ny = 512, TiltMin = -60, TiltMax = 60, TiltStep = 3, BeadCount = 25, BeadRadiusPixels = 3, BlobCount = 0, Seed = 5,
            XStretchAtMaxTilt = 0.02, SkewAtMaxTiltDegrees = 1.0, TiltErrorDegrees = 0,
        };
        var series = new TiltSeriesSimulator().Simulate(o);
        var rng = new Random(7);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var obs = new List<LandmarkObservation>();
        for (int i = 0; i < series.TrueGeometry.Length; i++)
        {
            var p = series.TrueBeadProjections(i, aligned: false);
            for (int j = 0; j < p.Count; j++)
                if (p[j].X > 4 && p[j].X < o.Nx - 4 && p[j].Y > 4 && p[j].Y < o.Ny - 4)
                    obs.Add(new LandmarkObservation(j, i, p[j].X + 0.15 * Gauss(), p[j].Y + 0.15 * Gauss()));
        }
        var input = new SolveInput(obs, o.Nx, o.Ny, series.NominalTilts, o.TiltAxisDegrees);
        var solver = new BundleSolver(new CpuBundleNormalEquations());
        // Tilts fixed at the (true) nominal ones: a stretch of the specimen's x axis and a tilt change move the points of a thin
        // specimen alike (tiltalign: stretch cannot be solved together with tilt and thinning), so the test isolates the distortion.
        var baseOptions = new SolveOptions { ReferenceView = series.ReferenceView, Tilt = VariableOption.Fixed, Magnification = VariableOption.PerView };
        var rigid = solver.Solve(input, baseOptions);
        var withDistortion = solver.Solve(input, baseOptions with { XStretch = VariableOption.PerView, Skew = VariableOption.PerView });
        var truth = series.TrueGeometry;
        // Errors after removing the common offset: a stretch (skew) common to all views is the gauge, absorbed by the landmarks'
        // x scale (x–y shear); the reference view's own few points set it.
        var dStretch = Enumerable.Range(0, truth.Length).Select(i => withDistortion.Views[i].XStretch - truth[i].XStretch).ToArray();
        var dSkew = Enumerable.Range(0, truth.Length).Select(i => withDistortion.Views[i].SkewDegrees - truth[i].SkewDegrees).ToArray();
        double stretchErr = Math.Sqrt(dStretch.Average(d => Math.Pow(d - dStretch.Average(), 2)));
        double skewErr = Math.Sqrt(dSkew.Average(d => Math.Pow(d - dSkew.Average(), 2)));
        output.WriteLine($"common offsets: stretch {dStretch.Average():F4}, skew {dSkew.Average():F3}°");
        output.WriteLine($"residual: rigid {rigid.Overall.Mean:F3} px, with distortion {withDistortion.Overall.Mean:F3} px; " +
                         $"stretch error RMS {stretchErr:F4} (truth up to {truth.Max(g => Math.Abs(g.XStretch)):F3}), skew error RMS {skewErr:F3}° (truth up to {truth.Max(g => Math.Abs(g.SkewDegrees)):F2}°)");
        Assert.True(truth.Max(g => Math.Abs(g.XStretch)) > 0.019, "the simulator did not apply the stretch");
        Assert.True(withDistortion.Overall.Mean < 0.5 * rigid.Overall.Mean, $"distortion variables left {withDistortion.Overall.Mean:F3} px against {rigid.Overall.Mean:F3}");
        Assert.True(withDistortion.Overall.Mean < 0.3, $"residual {withDistortion.Overall.Mean:F3} px with 0.15 px noise per axis");
        Assert.True(stretchErr < 0.002, $"stretch recovered to {stretchErr:F4} RMS (10 % of the largest)");
        Assert.True(skewErr < 0.1, $"skew recovered to {skewErr:F3}° RMS (10 % of the largest)");
    }

    [Fact]
    public void TiltScaledBlocksAreSmallerAtHighTilt()
    {
        var tilts = Enumerable.Range(0, 61).Select(i => 65.0 - 2 * i).ToArray();
        var end = VariableMap.TiltScaledBlocks(tilts, 7, 1.5);
        var sizes = new List<(int Start, int Size)>();
        for (int s = 0; s < tilts.Length; s = end[s]) sizes.Add((s, end[s] - s));
        output.WriteLine(string.Join(" ", sizes.Select(b => $"{b.Start}:{b.Size}")));
        Assert.Equal(tilts.Length, sizes.Sum(b => b.Size));
        Assert.True(sizes[0].Size < 7 && sizes[^1].Size < 7, "blocks at high tilt should be smaller than the average");
        Assert.Contains(sizes, b => b.Size > 7);
        Assert.InRange(tilts.Length / (double)sizes.Count, 5.5, 8.5);
    }
}
