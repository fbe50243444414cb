using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Solve;

public class RobustSolveTests(ITestOutputHelper output)
{
    private static readonly SolveOptions Robust = new()
    {
        Rotation = VariableOption.PerView, Tilt = VariableOption.PerView, Magnification = VariableOption.PerView, Robust = true,
    };

    [Theory]
    [InlineData(42)]
    [InlineData(99)]
    public void DisplacedPointsAreDownweightedAndFlagged(int seed)
    {
        // 5 % of the points moved by 3–10 px in a random direction (mis-tracked beads).
        var sim = SimulatedLandmarks.Create(seed, displacedFraction: 0.05);
        var r = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), Robust);
        var e = sim.Compare(r);
        var flagged = r.Points.Where(p => p.Flagged).Select(p => (p.Landmark, p.View)).ToHashSet();
        int hit = sim.Displaced.Count(flagged.Contains);
        int falseFlags = flagged.Count(f => !sim.Displaced.Contains(f));
        output.WriteLine($"{sim.Displaced.Count} displaced of {r.ObservationCount}; flagged {flagged.Count}: {hit} displaced, {falseFlags} others; " +
                         $"{r.RobustRounds} robust rounds, {r.Iterations} iterations");
        output.WriteLine(e.ToString());
        Assert.True(sim.Displaced.Count > 50);
        Assert.True(hit >= 0.9 * sim.Displaced.Count, $"{hit} of {sim.Displaced.Count} displaced points flagged");
        Assert.True(e.RotationRms <= 0.05, e.ToString());
        Assert.True(e.TiltRms <= 0.1, e.ToString());
        Assert.True(e.MagRms <= 0.001, e.ToString());
        Assert.True(e.ShiftRms <= 0.1, e.ToString());
        // The displaced points end with (near) zero weight, the others with (near) full weight.
        double wDisplaced = r.Points.Where(p => sim.Displaced.Contains((p.Landmark, p.View))).Average(p => p.Weight);
        double wOthers = r.Points.Where(p => !sim.Displaced.Contains((p.Landmark, p.View))).Average(p => p.Weight);
        output.WriteLine($"mean weight: displaced {wDisplaced:F4}, others {wOthers:F4}");
        Assert.True(wDisplaced < 0.05, $"displaced points keep a mean weight {wDisplaced}");
        Assert.True(wOthers > 0.8, $"undisplaced points have a mean weight {wOthers}");
    }

    [Fact]
    public void WithoutRobustWeightsDisplacedPointsSpoilTheSolution()
    {
        // The same data solved by plain least squares: a control showing the robust test is not trivially met.
        var sim = SimulatedLandmarks.Create(42, displacedFraction: 0.05);
        var r = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), Robust with { Robust = false });
        var e = sim.Compare(r);
        output.WriteLine(e.ToString());
        Assert.True(e.TiltRms > 0.1 || e.ShiftRms > 0.1 || e.RotationRms > 0.05, e.ToString());
    }

    [Fact]
    public void AMisTrackedLandmarkIsFlaggedAndDroppedOnRequest()
    {
        var sim = SimulatedLandmarks.Create(5);
        // Landmark 7 is badly tracked: every point of it is off by ~1.5 px per axis in a random direction.
        var rng = new Random(17);
        var obs = sim.Observations.Select(o => o.Landmark == 7
            ? o with { X = o.X + 3 * (rng.NextDouble() - 0.5) * 1.7, Y = o.Y + 3 * (rng.NextDouble() - 0.5) * 1.7 } : o).ToList();
        var input = sim.Input() with { Observations = obs };
        var solver = new BundleSolver(new CpuBundleNormalEquations());
        var plain = solver.Solve(input, new SolveOptions());
        Assert.Contains(plain.Landmarks, l => l.Id == 7 && l.Flagged);
        var dropped = solver.Solve(input, new SolveOptions { DropWorstLandmarks = 2 });
        output.WriteLine(string.Join("; ", dropped.Notes));
        Assert.Contains(7, dropped.DroppedLandmarks);
        Assert.DoesNotContain(dropped.Landmarks, l => l.Id == 7);
        Assert.True(dropped.Overall.Rms < plain.Overall.Rms);
    }

    [Fact]
    public void WholeTrackWeightsTakeABadTrackOutTogether()
    {
        // Landmarks 3 and 11 slid off their feature: every point off by 2–4 px. With whole-track weights each keeps one
        // weight for all its points (near 0), the good tracks keep full weight, and the geometry is as if they were absent.
        var sim = SimulatedLandmarks.Create(8, landmarks: 40);
        var rng = new Random(2);
        var bad = new HashSet<int> { 3, 11 };
        var obs = sim.Observations.Select(o => bad.Contains(o.Landmark)
            ? o with { X = o.X + (2 + 2 * rng.NextDouble()) * (rng.Next(2) * 2 - 1), Y = o.Y + (2 + 2 * rng.NextDouble()) * (rng.Next(2) * 2 - 1) } : o).ToList();
        var input = sim.Input() with { Observations = obs };
        var r = new BundleSolver(new CpuBundleNormalEquations()).Solve(input, Robust with { WeightWholeTracks = true });
        foreach (int id in bad)
        {
            var w = r.Points.Where(p => p.Landmark == id).Select(p => p.Weight).ToArray();
            Assert.True(w.Max() - w.Min() < 1e-12, $"landmark {id}: weights {w.Min()}…{w.Max()}");
            Assert.True(w[0] < 0.05, $"landmark {id} keeps weight {w[0]}");
        }
        Assert.True(r.Points.Where(p => !bad.Contains(p.Landmark)).Average(p => p.Weight) > 0.9);
        var e = sim.Compare(r);
        output.WriteLine(e.ToString());
        Assert.True(e.RotationRms <= 0.05 && e.ShiftRms <= 0.1, e.ToString());
        // Along a good track too, one weight for all its points; point weights instead vary from point to point.
        var tw = r.Points.Where(p => p.Landmark == 0).Select(p => p.Weight).ToArray();
        Assert.True(tw.Max() - tw.Min() < 1e-12);
        var points = new BundleSolver(new CpuBundleNormalEquations()).Solve(input, Robust);
        var pw = points.Points.Where(p => p.Landmark == 0).Select(p => p.Weight).ToArray();
        Assert.True(pw.Max() - pw.Min() > 0.01, "point weights came out equal along a track");
    }
}
