using Tomalign.Core.Geometry;
using Tomalign.Tests.Backend;
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
        var log = new ListLogger();
        var solver = new BundleSolver(new CpuBundleNormalEquations(), log);
        var r = solver.Solve(sim.Input(), AllPerView);
        var e = sim.Compare(r);
        output.WriteLine($"{r.StopReason}, {r.Iterations} iterations, RMS {r.Overall.Rms:E2}; {e}");
        // The exact-fit stop counts only the iterations run (the check at the top of the next one is not one).
        var stages = Stages(log);
        AssertStagesAreConsistent(stages, output);
        Assert.Equal("ExactFit", stages[^1].Stop);
        Assert.Equal(r.Iterations, stages.Sum(s => s.Reported));
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
    /// <summary>One Levenberg–Marquardt run as its log tells it.</summary>
    private sealed record StageLog(string Name, double StartRms, List<(int Iteration, double Rms, double Lambda)> Accepted,
        (int Iteration, double Lambda)? NoDecrease, string Stop, int Reported, double EndRms);

    private static double Number(string text) => double.Parse(text.TrimEnd(',', ')'), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Splits the solver's log into its stages: the start line, the iteration lines, the end line.</summary>
    private static List<StageLog> Stages(ListLogger log)
    {
        var stages = new List<StageLog>();
        string? name = null; double start = 0; var accepted = new List<(int, double, double)>(); (int, double)? none = null;
        foreach (var (_, m) in log.Entries)
        {
            if (m.StartsWith("Solve ") && m.Contains(" view variables, "))
            {
                Assert.Null(name); // the previous stage ended
                name = m["Solve ".Length..m.IndexOf(": ", StringComparison.Ordinal)];
                start = Number(m.Split("start RMS ")[1].Split(' ')[0]);
                accepted = []; none = null;
            }
            else if (name is not null && m.StartsWith(name + " iteration "))
            {
                var rest = m[(name + " iteration ").Length..];
                int it = int.Parse(rest.Split(':')[0], System.Globalization.CultureInfo.InvariantCulture);
                double lambda = Number(rest.Split("λ ")[1].Split(' ')[0]);
                if (rest.Contains("no step lowers the cost")) none = (it, lambda);
                else accepted.Add((it, Number(rest.Split("RMS ")[1].Split(' ')[0]), lambda));
            }
            else if (name is not null && m.StartsWith("Solve " + name + ": ") && m.Contains(" after "))
            {
                var rest = m[("Solve " + name + ": ").Length..];
                stages.Add(new StageLog(name, start, accepted, none, rest.Split(' ')[0],
                    int.Parse(rest.Split(" after ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture),
                    Number(rest.Split("RMS ")[1].Split(' ')[0])));
                name = null;
            }
        }
        Assert.Null(name);
        return stages;
    }

    /// <summary>
    /// What every stage's log must show: iterations numbered 1, 2, … with the RMS falling at each accepted step (LM accepts
    /// only a step that lowers the cost), the reported count equal to the iterations run (accepted ones, plus the last one
    /// when no step lowered the cost), and the damping following Marquardt's schedule: after an accepted step λ is divided
    /// by 10 (floor 1e-12) and only multiplied by 10 after that, so the next accepted λ is that value times a power of 10.
    /// Returns how many accepted steps needed a larger λ than the schedule's first try (rejected trial steps).
    /// </summary>
    private static int AssertStagesAreConsistent(List<StageLog> stages, ITestOutputHelper output)
    {
        int rejections = 0;
        foreach (var s in stages)
        {
            output.WriteLine($"{s.Name}: start RMS {s.StartRms}, {s.Accepted.Count} accepted, {s.Stop} after {s.Reported}, RMS {s.EndRms}; λ {string.Join(" ", s.Accepted.Select(a => a.Lambda.ToString("E0")))}");
            double previousRms = s.StartRms, tryLambda = 1e-3;
            for (int k = 0; k < s.Accepted.Count; k++)
            {
                var (it, rms, lambda) = s.Accepted[k];
                Assert.Equal(k + 1, it);
                Assert.True(rms <= previousRms, $"{s.Name} iteration {it}: RMS {rms} after {previousRms}");
                double powers = Math.Log10(lambda / tryLambda);
                Assert.True(powers > -0.05 && Math.Abs(powers - Math.Round(powers)) < 0.05, $"{s.Name} iteration {it}: λ {lambda:E2}, schedule {tryLambda:E2}");
                if (powers > 0.5) rejections++;
                previousRms = rms;
                tryLambda = Math.Max(lambda / 10, 1e-12);
            }
            int run = s.Accepted.Count + (s.NoDecrease is null ? 0 : 1);
            Assert.Equal(run, s.Reported);
            if (s.NoDecrease is { } nd)
            {
                Assert.Equal("NoFurtherDecrease", s.Stop);
                Assert.Equal(s.Reported, nd.Iteration);
                Assert.True(nd.Lambda >= 0.99e16, $"{s.Name}: gave up at λ {nd.Lambda:E1}");
            }
            Assert.Equal(s.Accepted.Count > 0 ? s.Accepted[^1].Rms : s.StartRms, s.EndRms, 4);
        }
        return rejections;
    }

    /// <summary>
    /// A start far off: the nominal tilts 1.3 times the true ones (up to 18° off at ±60°) and the nominal axis 30° from
    /// the true 8°. The solve still reaches the truth, and each stage's log shows the RMS falling at every accepted step,
    /// the damping schedule kept (down to its floor of 1e-12) and the iteration count per stage as reported; the counts
    /// add up to the result's.
    /// </summary>
    [Fact]
    public void AStartFarOffFallsMonotonicallyWithEveryIterationCounted()
    {
        var sim = SimulatedLandmarks.Create(seed: 17, landmarks: 20, views: 41, sigma: 0.2);
        var log = new ListLogger();
        var input = sim.Input() with { TiltDegrees = sim.NominalTilts.Select(t => 1.3 * t).ToArray(), AxisAngleDegrees = sim.NominalAxis + 30 };
        var r = new BundleSolver(new CpuBundleNormalEquations(), log).Solve(input, AllPerView);
        var stages = Stages(log);
        int rejections = AssertStagesAreConsistent(stages, output);
        var e = sim.Compare(r);
        output.WriteLine($"{r.StopReason} after {r.Iterations}; {e}; {rejections} accepted step(s) after rejected ones");
        Assert.Equal(2, stages.Count);
        Assert.Equal(r.Iterations, stages.Sum(s => s.Reported));
        // The start is far off (the first stage starts at tens of px) and the end is at the noise.
        Assert.True(stages[0].StartRms > 20 * r.RmsPerAxis, $"start RMS {stages[0].StartRms}");
        Assert.Equal(r.Overall.Rms, stages[^1].EndRms, 4);
        Assert.Equal(SolveStopReason.Converged, r.StopReason);
        Assert.True(e.RotationRms < 0.1 && e.TiltRms < 0.15 && e.MagRms < 0.002, e.ToString());
    }

    /// <summary>
    /// With the relative tolerance 0 the solve goes on until no step lowers the cost (λ past 1e16): it stops there,
    /// says so, counts the failed iteration, and its answer is the converged one (the same minimum).
    /// </summary>
    [Fact]
    public void WithoutAToleranceItStopsWhereNoStepLowersTheCost()
    {
        var sim = SimulatedLandmarks.Create(seed: 9, landmarks: 12, views: 21, sigma: 0.3);
        var log = new ListLogger();
        var converged = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), AllPerView);
        var r = new BundleSolver(new CpuBundleNormalEquations(), log).Solve(sim.Input(), AllPerView with { RelativeTolerance = 0 });
        var stages = Stages(log);
        int rejections = AssertStagesAreConsistent(stages, output);
        output.WriteLine($"{r.StopReason} after {r.Iterations} (converged: {converged.Iterations}); RMS {r.Overall.Rms} vs {converged.Overall.Rms}");
        // Near the minimum, rounding makes trial steps raise the cost: they are rejected (λ raised), not taken.
        Assert.True(rejections > 0, "no trial step was rejected");
        Assert.Equal(SolveStopReason.NoFurtherDecrease, r.StopReason);
        Assert.All(stages, s => Assert.NotNull(s.NoDecrease));
        Assert.Equal(r.Iterations, stages.Sum(s => s.Reported));
        Assert.True(r.Iterations > converged.Iterations);
        Assert.True(r.Overall.Rms <= converged.Overall.Rms * (1 + 1e-9));
        Assert.Equal(converged.Overall.Rms, r.Overall.Rms, 6);
        for (int i = 0; i < r.Views.Length; i++)
        {
            Assert.Equal(converged.Views[i].TiltDegrees, r.Views[i].TiltDegrees, 3);
            Assert.Equal(converged.Views[i].AxisAngleDegrees, r.Views[i].AxisAngleDegrees, 3);
        }
    }

    /// <summary>
    /// With the iterations capped at 3 each stage runs exactly 3 (the RMS falling from its start) and reports 3, and the
    /// result counts both stages.
    /// </summary>
    [Fact]
    public void ACapOfThreeRunsThreeIterationsPerStage()
    {
        var sim = SimulatedLandmarks.Create(seed: 5, landmarks: 8, views: 7, sigma: 0.3, missingFraction: 0, maxTilt: 60);
        var log = new ListLogger();
        var input = sim.Input() with { AxisAngleDegrees = sim.NominalAxis + 10 };
        var r = new BundleSolver(new CpuBundleNormalEquations(), log).Solve(input, AllPerView with { MaxIterations = 3 });
        var stages = Stages(log);
        AssertStagesAreConsistent(stages, output);
        Assert.Equal(SolveStopReason.MaxIterations, r.StopReason);
        Assert.Equal(2, stages.Count);
        Assert.All(stages, s => { Assert.Equal(3, s.Reported); Assert.Equal(3, s.Accepted.Count); Assert.Equal("MaxIterations", s.Stop); });
        Assert.Equal(6, r.Iterations);
        Assert.True(stages[0].Accepted[^1].Rms < stages[0].StartRms);
    }

    /// <summary>
    /// A given tilt prior: the solve minimises J = Σ residual² + W Σ (θ_i − nominal_i)² (θ in radians, W the reported weight),
    /// and nothing else. Checked from outside: J recomputed by projecting the solved landmarks through the solved views
    /// (ViewGeometry.ProjectPoint) equals the reported residuals' sum plus the prior term, and moving any one view's tilt
    /// either way raises J; the parabola through J(θ_i − h), J(θ_i), J(θ_i + h) has its vertex at the solved tilt. The prior
    /// acts: the tilts lie between the free ones and the nominal ones.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]   // robust rounds: each starts away from the nominal tilts, where the prior term is not 0
    public void AGivenTiltPriorGivesTheMinimumOfDataPlusPrior(bool robust)
    {
        var sim = SimulatedLandmarks.Create(seed: 23, landmarks: 16, views: 31, sigma: 0.3, missingFraction: 0.1, displacedFraction: robust ? 0.02 : 0);
        var options = AllPerView with { TiltPrior = TiltPriorOption.Sd(0.1), Robust = robust };
        var r = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), options);
        var free = new BundleSolver(new CpuBundleNormalEquations()).Solve(sim.Input(), AllPerView with { Robust = robust });
        // J with the final robust weights (all 1 without the robust rounds).
        var weight = r.Points.ToDictionary(p => (p.Landmark, p.View), p => p.Weight);
        Assert.Equal("prior", r.TiltChoice!.Chosen);
        double w = r.TiltChoice.PriorWeight!.Value;
        var lm = r.Landmarks.ToDictionary(l => l.Id);
        double cx = sim.Width / 2.0, cy = sim.Height / 2.0;
        double J(ViewGeometry[] views)
        {
            double data = 0;
            foreach (var o in sim.Observations)
            {
                var l = lm[o.Landmark];
                var (x, y) = views[o.View].ProjectPoint(l.X, l.Y, l.Z);
                data += weight[(o.Landmark, o.View)] * (Sq(x + cx - o.X) + Sq(y + cy - o.Y));
            }
            double prior = 0;
            for (int i = 0; i < views.Length; i++) prior += Sq((views[i].TiltDegrees - sim.NominalTilts[i]) * Math.PI / 180);
            return data + w * prior;
        }
        static double Sq(double x) => x * x;
        var solved = r.Views.ToArray();
        double j0 = J(solved);
        double reported = r.Points.Sum(p => p.Weight * (p.Dx * p.Dx + p.Dy * p.Dy)) + w * solved.Select((v, i) => Sq((v.TiltDegrees - sim.NominalTilts[i]) * Math.PI / 180)).Sum();
        Assert.Equal(1, j0 / reported, 9);
        const double h = 0.01;
        double worst = 0;
        for (int i = 0; i < solved.Length; i++)
        {
            if (i == r.ReferenceView) continue;
            var plus = solved.ToArray(); plus[i] = plus[i] with { TiltDegrees = plus[i].TiltDegrees + h };
            var minus = solved.ToArray(); minus[i] = minus[i] with { TiltDegrees = minus[i].TiltDegrees - h };
            double jp = J(plus), jm = J(minus);
            Assert.True(jp > j0 && jm > j0, $"view {i}: J {j0} at the solution, {jm} / {jp} at ∓{h}°");
            double vertex = -h * (jp - jm) / (2 * (jp + jm - 2 * j0));
            worst = Math.Max(worst, Math.Abs(vertex));
        }
        output.WriteLine($"robust {robust}: J {j0:F4} (W {w:G4}); largest distance from a solved tilt to the minimum along it {worst:E2}°; {r.StopReason} after {r.Iterations}");
        Assert.True(worst < 1e-3, $"a tilt is {worst:E2}° from the minimum of J along it");
        Assert.Equal(SolveStopReason.Converged, r.StopReason);
        // The prior acts: each tilt moves from nominal less than the free solve's (summed over views), and the data fit less well.
        double Dev(SolveResult s) => s.Views.Select((v, i) => Sq(v.TiltDegrees - sim.NominalTilts[i])).Sum();
        Assert.True(Dev(r) < 0.5 * Dev(free), $"Σ(θ − nominal)²: prior {Dev(r):F4}, free {Dev(free):F4}");
        Assert.True(r.Overall.Rms > free.Overall.Rms);
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
