using Tomalign.Core.Geometry;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Solve;

public class BundleSolverTests(ITestOutputHelper output)
{
    private static readonly SolveOptions AllPerView = new()
    {
        Rotation = VariableOption.PerView, Tilt = VariableOption.PerView, Magnification = VariableOption.PerView,
    };

    [Fact]
    public void TinyProblemWithoutNoiseIsSolvedExactly()
    {
        // 8 landmarks, 7 views, every point seen, no noise: the solution is exact to rounding.
        var sim = SimulatedLandmarks.Create(seed: 5, landmarks: 8, views: 7, sigma: 0, missingFraction: 0, maxTilt: 60);
        var solver = new BundleSolver(new CpuBundleNormalEquations());
        var r = solver.Solve(sim.Input(), AllPerView);
        var e = sim.Compare(r);
        output.WriteLine($"{r.StopReason}, {r.Iterations} iterations, RMS {r.Overall.Rms:E2}; {e}");
        Assert.True(r.Overall.Rms < 1e-8, $"RMS {r.Overall.Rms}");
        Assert.True(e.RotationMax < 1e-7 && e.TiltMax < 1e-7 && e.MagMax < 1e-9 && e.ShiftMax < 1e-7, e.ToString());
        for (int j = 0; j < sim.Points.Length; j++)
            for (int c = 0; c < 3; c++)
                Assert.Equal(sim.Points[j][c], c == 0 ? r.Landmarks[j].X : c == 1 ? r.Landmarks[j].Y : r.Landmarks[j].Z, 6);
        // An exact fit is reported as one (Stryker left the exact-fit stop untested).
        Assert.Equal(SolveStopReason.ExactFit, r.StopReason);
    }

    /// <summary>With the iterations capped below what the solve needs, it stops at the cap and says so.</summary>
    [Fact]
    public void AnIterationCapStopsTheSolveAndIsReported()
    {
        var sim = SimulatedLandmarks.Create(seed: 5, landmarks: 8, views: 7, sigma: 0.3, missingFraction: 0, maxTilt: 60);
        var r = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), AllPerView with { MaxIterations = 1 });
        output.WriteLine($"{r.StopReason}, {r.Iterations} iterations, RMS {r.Overall.Rms:E2}");
        Assert.Equal(SolveStopReason.MaxIterations, r.StopReason);
    }

    /// <summary>
    /// 30 landmarks (x, y uniform in ±400 px, z uniform in ±100 px), 61 views ±60°, σ = 0.3 px, 20 % of the
    /// points missing (more at high tilt); every view variable free per view. The targets are RMS over views:
    /// a single view's shift, estimated from ~24 points, has an irreducible SD of σ/√24 ≈ 0.06 px per axis, so
    /// a maximum over 122 shift values sits near 0.18 px at the noise limit whatever the solver (the maxima are printed).
    /// </summary>
    [Theory]
    [InlineData(42)]
    [InlineData(7)]
    [InlineData(1234)]
    public void SimulatedSeriesMeetsAccuracyTargets(int seed)
    {
        var sim = SimulatedLandmarks.Create(seed);
        var solver = new BundleSolver(new CpuBundleNormalEquations());
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = solver.Solve(sim.Input(), AllPerView);
        sw.Stop();
        var e = sim.Compare(r);
        int n = r.ObservationCount;
        double floor = 0.3 * Math.Sqrt(1 - (double)r.Unknowns / (2.0 * n));
        output.WriteLine($"{n} observations, {r.Unknowns} unknowns, {r.StopReason} after {r.Iterations} iterations, {sw.ElapsedMilliseconds} ms");
        output.WriteLine($"{e}; RMS per axis {r.RmsPerAxis:F4} px vs floor {floor:F4} px; gauge: {r.Gauge}");
        Assert.Equal(sim.ReferenceView, r.ReferenceView);
        Assert.InRange(n, 61 * 30 * 0.75, 61 * 30 * 0.85);
        Assert.True(e.RotationRms <= 0.05, e.ToString());
        Assert.True(e.TiltRms <= 0.1, e.ToString());
        Assert.True(e.MagRms <= 0.001, e.ToString());
        Assert.True(e.ShiftRms <= 0.1, e.ToString());
        Assert.InRange(r.RmsPerAxis / floor, 0.95, 1.05);
        Assert.Contains(r.StopReason, new[] { SolveStopReason.Converged, SolveStopReason.NoFurtherDecrease });
    }

    /// <summary>
    /// A view where tracking kept only two points (four equations for five per-view parameters) must not get a
    /// rotation, tilt and magnification of its own: they would fit anything (the thick zoo series solved a view to 200°
    /// and ×1.85 from two beads). Its variables follow its neighbours, and a note says so; its shift is still solved.
    /// </summary>
    [Fact]
    public void AViewWithTwoObservationsFollowsItsNeighbours()
    {
        var sim = SimulatedLandmarks.Create(seed: 8, landmarks: 16, views: 21, sigma: 0.2, missingFraction: 0, maxTilt: 60);
        const int weak = 6;
        var kept = sim.Observations.Where(o => o.View == weak).Take(2).ToHashSet();
        // The two points left are displaced by 3 px, as a tracker that confused neighbours would leave them.
        var obs = sim.Observations.Where(o => o.View != weak).Concat(kept.Select(o => o with { X = o.X + 3, Y = o.Y - 3 })).ToList();
        var input = new SolveInput(obs, sim.Width, sim.Height, sim.NominalTilts, sim.NominalAxis);
        var r = new BundleSolver(new CpuBundleNormalEquations()).Solve(input, AllPerView);
        var v = r.Views[weak]; var t = sim.Truth[weak];
        output.WriteLine($"view {weak}: rotation {v.AxisAngleDegrees:F3} (truth {t.AxisAngleDegrees:F3}), tilt {v.TiltDegrees:F3} ({t.TiltDegrees:F3}), mag {v.Magnification:F4} ({t.Magnification:F4})");
        Assert.InRange(v.AxisAngleDegrees - t.AxisAngleDegrees, -1, 1);
        Assert.InRange(v.TiltDegrees - t.TiltDegrees, -1.5, 1.5);
        Assert.InRange(v.Magnification / t.Magnification, 0.98, 1.02);
        Assert.Contains(r.Notes, n => n.Contains($"view(s) {weak} have fewer than"));
        // The well-observed views are unaffected.
        var e = sim.Compare(r.With(r.Views.Select((g, i) => i == weak ? sim.Truth[i] : g).ToArray(), r.Landmarks.ToArray()));
        Assert.True(e.RotationRms < 0.2 && e.MagRms < 0.003, e.ToString());
    }

    [Fact]
    public void LandmarksInTooFewViewsAreDroppedWithANote()
    {
        var sim = SimulatedLandmarks.Create(seed: 3, landmarks: 10, views: 21, sigma: 0.1);
        var obs = sim.Observations.ToList();
        obs.Add(new LandmarkObservation(99, 4, 100, 100));
        obs.Add(new LandmarkObservation(99, 5, 101, 100));
        var r = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input() with { Observations = obs }, new SolveOptions());
        Assert.Contains(99, r.DroppedLandmarks);
        Assert.Contains(r.Notes, n => n.Contains("landmark 99"));
        Assert.DoesNotContain(r.Landmarks, l => l.Id == 99);
    }

    [Fact]
    public void GroupedVariablesShareOneChangePerGroup()
    {
        var sim = SimulatedLandmarks.Create(seed: 11, sigma: 0.3);
        var options = new SolveOptions { Rotation = VariableOption.Global, Tilt = VariableOption.Grouped(5), Magnification = VariableOption.Linear(6) };
        var r = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), options);
        // One global rotation: every view has the same axis angle.
        Assert.All(r.Views, v => Assert.Equal(r.Views[0].AxisAngleDegrees, v.AxisAngleDegrees, 9));
        // Tilt groups of 5: views in a block keep the same change from the nominal angle.
        for (int i = 0; i < 61; i++)
            Assert.Equal(r.Views[i / 5 * 5].TiltDegrees - sim.NominalTilts[i / 5 * 5], r.Views[i].TiltDegrees - sim.NominalTilts[i], 9);
        // The block holding the reference view (30) is fixed at the nominal tilt.
        Assert.Equal(sim.NominalTilts[31], r.Views[31].TiltDegrees, 9);
        // Linear magnification: views between anchors (spaced 6 from the reference) are interpolated.
        Assert.Equal(1.0, r.Views[30].Magnification, 12);
        Assert.Equal(0.5 * (r.Views[36].Magnification + r.Views[42].Magnification), r.Views[39].Magnification, 9);
        Assert.True(r.ViewVariables == 1 + 12 + 10 + 2 * 61, $"{r.ViewVariables} view variables");
    }
}

public class VariableOptionTests
{
    [Theory]
    [InlineData("fixed", VariableMode.Fixed, 1)]
    [InlineData("per-view", VariableMode.PerView, 1)]
    [InlineData(" Global ", VariableMode.Global, 1)]
    [InlineData("grouped:5", VariableMode.Grouped, 5)]
    [InlineData("linear:8", VariableMode.Linear, 8)]
    [InlineData("auto", VariableMode.Auto, 1)]
    public void ParsesCommandLineValues(string text, VariableMode mode, int size) =>
        Assert.Equal(new VariableOption(mode, size), VariableOption.Parse(text, "--tilt"));

    [Theory]
    [InlineData("grouped")]
    [InlineData("grouped:0")]
    [InlineData("linear:x")]
    [InlineData("sometimes")]
    public void RejectsOthersWithTheOptionName(string text)
    {
        var e = Assert.Throws<Tomalign.Core.TomalignInputException>(() => VariableOption.Parse(text, "--mag"));
        Assert.Contains("--mag", e.Message);
    }

    [Theory]
    [InlineData(12, VariableMode.PerView, VariableMode.PerView)]
    [InlineData(6, VariableMode.Grouped, VariableMode.Grouped)]
    public void AutomaticVariablesFollowTheLandmarksPerView(int landmarks, VariableMode tilt, VariableMode mag)
    {
        var obs = new List<LandmarkObservation>();
        for (int v = 0; v < 5; v++)
            for (int k = 0; k < landmarks; k++) obs.Add(new LandmarkObservation(k, v, k, v));
        var input = new SolveInput(obs, 100, 100, [-10.0, -5, 0, 5, 10]);
        var options = new SolveOptions { Tilt = VariableOption.Auto, Magnification = VariableOption.Auto, Rotation = VariableOption.Fixed };
        var resolved = options.ResolveAutomatic(input);
        Assert.Equal(tilt, resolved.Tilt.Mode);
        Assert.Equal(mag, resolved.Magnification.Mode);
        Assert.Equal(VariableMode.Fixed, resolved.Rotation.Mode);
        Assert.Same(resolved, resolved.ResolveAutomatic(input));
    }

    /// <summary>
    /// Bead-like landmarks on two surfaces 200 px apart (0.3° true tilt jitter, 0.3 px noise) determine the tilts: the automatic
    /// tilt prior keeps the free tilts (the nominal ones leave far more than twice the residual variance) and they are as
    /// accurate as without any prior; a given prior of SD 0.1° would pull them towards the (wrong) nominal angles.
    /// </summary>
    [Fact]
    public void AutomaticTiltPriorKeepsTiltsThatBeadsDetermine()
    {
        var sim = SimulatedLandmarks.Create(seed: 3, landmarks: 30, views: 41, sigma: 0.3, thickness: 200);
        var options = new SolveOptions { Tilt = VariableOption.PerView, Magnification = VariableOption.PerView };
        var off = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), options);
        var auto = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), options with { TiltPrior = TiltPriorOption.Auto });
        var tight = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), options with { TiltPrior = TiltPriorOption.Sd(0.01) });
        double nominalRms = Math.Sqrt(Enumerable.Range(0, 41).Average(i => Math.Pow(sim.NominalTilts[i] - sim.Truth[i].TiltDegrees, 2)));
        Assert.NotNull(auto.TiltChoice);
        Assert.Equal("free", auto.TiltChoice!.Chosen);
        Assert.True(Math.Pow(auto.TiltChoice.FixedResidual, 2) >= BundleSolver.ClearlyBetterVarianceRatio * Math.Pow(auto.TiltChoice.FreeResidual, 2), auto.TiltChoice.Reason);
        Assert.Equal(sim.Compare(off).TiltRms, sim.Compare(auto).TiltRms, 6);
        Assert.True(sim.Compare(auto).TiltRms < nominalRms / 3, $"tilts {sim.Compare(auto).TiltRms:F3}° RMS, nominal {nominalRms:F3}°");
        // The prior term acts: a 0.01° prior holds the tilts near the nominal ones.
        Assert.Equal("prior", tight.TiltChoice!.Chosen);
        Assert.True(sim.Compare(tight).TiltRms > nominalRms / 2, $"with a 0.01° prior {sim.Compare(tight).TiltRms:F3}°, nominal {nominalRms:F3}°");
        Assert.Null(off.TiltChoice);
    }
}
