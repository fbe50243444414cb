using Tomalign.Core.Geometry;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;

namespace Tomalign.Tests.Solve;

public sealed class SpecimenLevelTests
{
    private static SolvedLandmark L(int id, double x, double y, double z) => new(id, x, y, z, default, false);

    [Fact]
    public void APlaneSlopedInXGivesTheOffsetThatFlattensIt()
    {
        // z = tan 6°·x + tan 3°·y: the tilt offset removes the x slope; what is left in y is the x-axis tilt.
        var rng = new Random(3);
        var lm = Enumerable.Range(0, 40).Select(i =>
        {
            double x = rng.NextDouble() * 800 - 400, y = rng.NextDouble() * 800 - 400;
            return L(i, x, y, Math.Tan(6 * Math.PI / 180) * x + Math.Tan(3 * Math.PI / 180) * y + 5);
        }).ToArray();
        var level = SpecimenLevel.Fit(lm);
        Assert.Equal(40, level.Landmarks);
        Assert.Equal(-6.0, level.AngleOffsetDegrees, 6);
        Assert.InRange(level.XAxisTiltDegrees, 2.9, 3.1);
        // Too few landmarks: nothing to level.
        Assert.Equal(new SpecimenLevel(0, 0, 2), SpecimenLevel.Fit(lm.Take(2).ToArray()));
    }

    [Fact]
    public void LevellingASolveFlattensTheLandmarksAndKeepsEveryProjection()
    {
        // Landmarks of a specimen tilted by 7° about Y, seen through nominal tilts without other errors.
        var rng = new Random(5);
        double s = Math.Tan(7 * Math.PI / 180);
        var pts = Enumerable.Range(0, 30).Select(_ => { double x = rng.NextDouble() * 700 - 350, y = rng.NextDouble() * 700 - 350; return (x, y, z: s * x + 20 * (rng.NextDouble() - 0.5)); }).ToArray();
        var tilts = Enumerable.Range(0, 41).Select(i => -60.0 + 3 * i).ToArray();
        var obs = new List<LandmarkObservation>();
        for (int v = 0; v < tilts.Length; v++)
        {
            var g = new ViewGeometry(tilts[v], 0, 1, 0, 0);
            for (int k = 0; k < pts.Length; k++)
            {
                var (x, y) = g.ProjectPoint(pts[k].x, pts[k].y, pts[k].z);
                obs.Add(new LandmarkObservation(k, v, x + 512, y + 512));
            }
        }
        var input = new SolveInput(obs, 1024, 1024, tilts);
        var solver = new BundleSolver(new CpuBundleNormalEquations());
        // Tilts held at their (true) nominal values: a nearly flat landmark set leaves free tilts in a shallow valley,
        // where two runs of the solver may stop at slightly different places, and this test compares two runs.
        var options = new SolveOptions { Tilt = VariableOption.Fixed };
        var plain = solver.Solve(input, options);
        var levelled = solver.Solve(input, options with { Level = true });

        // Before: the landmarks lie on the 7° plane; after: flat, and every tilt moved by the same offset, the fitted one.
        double fitted = SpecimenLevel.Fit(plain.Landmarks).AngleOffsetDegrees;
        Assert.InRange(fitted, -7.3, -6.7);
        Assert.InRange(Math.Abs(SpecimenLevel.Fit(levelled.Landmarks).AngleOffsetDegrees), 0, 0.05);
        double offset = levelled.Views[0].TiltDegrees - plain.Views[0].TiltDegrees;
        Assert.Equal(fitted, offset, 3);
        for (int v = 0; v < tilts.Length; v++)
        {
            Assert.Equal(offset, levelled.Views[v].TiltDegrees - plain.Views[v].TiltDegrees, 6);
            // The aligned images do not change: same transforms, same projections of each landmark.
            var a = plain.Views[v].RawToAligned();
            var b = levelled.Views[v].RawToAligned();
            Assert.Equal(a.Dx, b.Dx, 6);
            Assert.Equal(a.A11, b.A11, 9);
            var l0 = plain.Landmarks[0];
            var l1 = levelled.Landmarks[0];
            var p0 = plain.Views[v].ProjectAligned(l0.X, l0.Y, l0.Z);
            var p1 = levelled.Views[v].ProjectAligned(l1.X, l1.Y, l1.Z);
            Assert.Equal(p0.U, p1.U, 6);
        }
        Assert.Contains(levelled.Notes, n => n.StartsWith("levelled"));
    }

    [Fact]
    public void WithAFixedXAxisTiltTheProjectionsStayTheSame()
    {
        var rng = new Random(9);
        var pts = Enumerable.Range(0, 25).Select(_ => (x: rng.NextDouble() * 600 - 300, y: rng.NextDouble() * 600 - 300, z: rng.NextDouble() * 80 - 40)).ToArray();
        var tilts = Enumerable.Range(0, 21).Select(i => -60.0 + 6 * i).ToArray();
        var obs = new List<LandmarkObservation>();
        for (int v = 0; v < tilts.Length; v++)
            for (int k = 0; k < pts.Length; k++)
            {
                var (x, y) = new ViewGeometry(tilts[v], 0, 1, 0, 0, 4).ProjectPoint(pts[k].x, pts[k].y, pts[k].z);
                obs.Add(new LandmarkObservation(k, v, x + 400, y + 400));
            }
        var solved = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(obs, 800, 800, tilts), new SolveOptions { XAxisTiltDegrees = 4 });
        var moved = SpecimenLevel.WithTiltOffset(solved, 5);
        for (int v = 0; v < tilts.Length; v += 5)
            for (int k = 0; k < solved.Landmarks.Length; k += 6)
            {
                var a = solved.Views[v].ProjectAligned(solved.Landmarks[k].X, solved.Landmarks[k].Y, solved.Landmarks[k].Z);
                var b = moved.Views[v].ProjectAligned(moved.Landmarks[k].X, moved.Landmarks[k].Y, moved.Landmarks[k].Z);
                Assert.Equal(a.U, b.U, 6);
                Assert.Equal(a.V, b.V, 6);
            }
    }
}

public sealed class SolveReproducibilityTests
{
    [Fact]
    public async Task TheSameInputGivesBitIdenticalSolvesWhateverTheThreads()
    {
        // A nearly flat landmark set with free tilts (a shallow valley, where any change in the order of the
        // floating-point sums shows): repeated solves, one while the thread pool is busy, agree to the last bit.
        var rng = new Random(5);
        var pts = Enumerable.Range(0, 60).Select(_ => (x: rng.NextDouble() * 700 - 350, y: rng.NextDouble() * 700 - 350, z: 20 * (rng.NextDouble() - 0.5))).ToArray();
        var tilts = Enumerable.Range(0, 41).Select(i => -60.0 + 3 * i).ToArray();
        var obs = new List<LandmarkObservation>();
        for (int v = 0; v < tilts.Length; v++)
            for (int k = 0; k < pts.Length; k++)
            {
                var (x, y) = new ViewGeometry(tilts[v] + 0.2 * Math.Sin(v), 1, 1, 0, 0).ProjectPoint(pts[k].x, pts[k].y, pts[k].z);
                obs.Add(new LandmarkObservation(k, v, x + 512 + 0.3 * (rng.NextDouble() - 0.5), y + 512 + 0.3 * (rng.NextDouble() - 0.5)));
            }
        var input = new SolveInput(obs, 1024, 1024, tilts);
        var options = new SolveOptions { Tilt = VariableOption.PerView, Magnification = VariableOption.PerView, Robust = true };
        var first = new BundleSolver(new CpuBundleNormalEquations()).Solve(input, options);
        using var busy = new CancellationTokenSource();
        var noise = Task.Run(() => Parallel.For(0, 1_000_000, i =>
        {
            if (busy.IsCancellationRequested) return;
            Thread.SpinWait(200);
        }));
        var second = new BundleSolver(new CpuBundleNormalEquations()).Solve(input, options);
        busy.Cancel();
        await noise;
        var third = new BundleSolver(new CpuBundleNormalEquations()).Solve(input, options);
        foreach (var other in new[] { second, third })
        {
            for (int i = 0; i < tilts.Length; i++)
            {
                Assert.Equal(first.Views[i].TiltDegrees, other.Views[i].TiltDegrees);
                Assert.Equal(first.Views[i].AxisAngleDegrees, other.Views[i].AxisAngleDegrees);
                Assert.Equal(first.Views[i].ShiftX, other.Views[i].ShiftX);
            }
            Assert.Equal(first.Overall.Rms, other.Overall.Rms);
        }
    }
}
