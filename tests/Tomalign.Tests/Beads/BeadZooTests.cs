using Tomalign.Cli;
using Tomalign.Core.Backend;
using Tomalign.Core.Beads;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Simulation;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Tomalign.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Beads;

/// <summary>
/// Bead tracking across the simulation zoo (issue 14, item 2): series in the style of independent data (weak texture,
/// 250–300 px slabs, beads on both surfaces, low dose, large drift, 5 and 20 px beads, light beads), prealigned with
/// the truth spoiled by 10–20 px (or 20–40 px) in a third (or half) of the views, as a poor coarse alignment leaves
/// them. Each asserts, against the truth: the tracked points lie on the right bead (RMS within a stated tolerance),
/// every view keeps enough beads, beads of both surfaces are tracked, and the alignment solved from them (solve, the
/// tracker's second pass, solve) is within 0.25 px of the truth over the field (0.35 px at 5 e/px, the issue's bound).
/// Before this work the same series (prealignment exact) lost views next to the reference (3 views with 8–10 beads,
/// a solved tilt of +5.5° for −6°) and aligned 3.5 px off; with a spoiled prealignment 4–14 beads survived.
/// </summary>
public sealed class BeadZooTests(ITestOutputHelper output)
{
    /// <summary>The raw series' true prealignment (every view onto the reference view's raw frame), spoiled in some views.</summary>
    internal static Xf[] TruePrexg(SimulatedSeries series, double spoil, double fraction, int seed)
    {
        var rng = new Random(seed);
        var inverse = series.AligningTransforms[series.ReferenceView].Inverse();
        return series.AligningTransforms.Select((t, i) =>
        {
            var q = Xf.Product(t, inverse);
            if (i == series.ReferenceView || rng.NextDouble() >= fraction) return q;
            double a = rng.NextDouble() * 2 * Math.PI, r = spoil * (0.5 + 0.5 * rng.NextDouble());
            return q with { Dx = q.Dx + r * Math.Cos(a), Dy = q.Dy + r * Math.Sin(a) };
        }).ToArray();
    }

    internal static ImageStack Prealign(SimulatedSeries series, Xf[] prexg)
    {
        var raw = series.Raw;
        var pre = new ImageStack(raw.Nx, raw.Ny, raw.Nz);
        new CpuBackend().Warper.Warp(raw.Data, raw.Nx, raw.Ny, raw.Nz, prexg, raw.ViewMeans(), new WarpOptions(1, Interpolation.Linear), pre.Data);
        return pre;
    }

    /// <summary>Tracked points against the true projections through the prealignment: per landmark its majority bead.</summary>
    internal static (double Rms, int Wrong, int Count) Accuracy(SimulatedSeries series, Xf[] prexg, IReadOnlyList<LandmarkObservation> observations)
    {
        double cx = series.Raw.Nx / 2.0, cy = series.Raw.Ny / 2.0;
        var truth = Enumerable.Range(0, series.Raw.Nz).Select(v => series.TrueBeadProjections(v, aligned: false)
            .Select(t => prexg[v].Apply(t.X, t.Y, cx, cy)).ToArray()).ToArray();
        var nearest = observations.Select(o =>
        {
            var t = truth[o.View];
            int j = Enumerable.Range(0, t.Length).MinBy(k => (t[k].X - o.X) * (t[k].X - o.X) + (t[k].Y - o.Y) * (t[k].Y - o.Y));
            return (o.Landmark, Bead: j, D: Math.Sqrt((t[j].X - o.X) * (t[j].X - o.X) + (t[j].Y - o.Y) * (t[j].Y - o.Y)));
        }).ToList();
        var majority = nearest.GroupBy(x => x.Landmark).ToDictionary(g => g.Key, g => g.GroupBy(x => x.Bead).MaxBy(h => h.Count())!.Key);
        var right = nearest.Where(x => x.Bead == majority[x.Landmark] && x.D <= 1.5).ToList();
        double rms = right.Count == 0 ? double.NaN : Math.Sqrt(right.Average(x => x.D * x.D));
        return (rms, nearest.Count - right.Count, nearest.Count);
    }

    public static TheoryData<string, string, double, double, int, double> Zoo => new()
    {
        // name, style, spoil px, spoiled fraction, seed, tolerance of the field error (px)
        { "weak texture, two surfaces", "weak-texture", 20, 0.3, 11, 0.25 },
        { "weaker texture (0.0005)", "weak-texture:0.0005", 20, 0.3, 12, 0.25 },
        { "low dose (5 e/px)", "low-dose", 20, 0.3, 13, 0.35 },
        { "large drift (15 px/view)", "large-drift", 40, 0.5, 14, 0.25 },
        { "5 px beads", "small-beads:weak", 20, 0.3, 15, 0.25 },
        { "20 px beads", "big-beads", 20, 0.3, 16, 0.25 },
        { "thick (300 px)", "thick:weak", 20, 0.3, 17, 0.25 },
        { "light beads", "light-beads", 20, 0.3, 18, 0.25 },
    };

    private static SimulationOptions Options(string style, int seed)
    {
        // "style:weak" is the style on the weak-texture series (250–300 px slab, two surfaces, 16 e/px); "weak-texture:T" sets its texture.
        var parts = style.Split(':');
        var o = SimulationZoo.Options(parts[0], 512, seed);
        if (parts.Length > 1 && parts[1] == "weak")
            o = SimulationZoo.Get(parts[0]).Apply(SimulationZoo.Options("weak-texture", 512, seed)) with { ThicknessPixels = Math.Max(o.ThicknessPixels, 250) };
        else if (parts.Length > 1) o = o with { BlobDensity = double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) };
        return o;
    }

    [Theory]
    [MemberData(nameof(Zoo))]
    public void TracksTheZooThroughASpoiledPrealignment(string name, string style, double spoil, double fraction, int seed, double tolerance)
    {
        var series = new TiltSeriesSimulator().Simulate(Options(style, seed));
        int n = series.Raw.Nx, nz = series.Raw.Nz;
        var prexg = TruePrexg(series, spoil, fraction, seed);
        var pre = Prealign(series, prexg);
        var tracker = new BeadTracker(new CpuTemplateCorrelator());
        var options = new BeadTrackOptions
        {
            BeadDiameter = 2 * series.Options.BeadRadiusPixels, Beads = 25, TiltAxisDegrees = series.Options.TiltAxisDegrees,
            LightBeads = series.Options.InvertContrast,
        };
        var tilts = series.NominalTilts;
        var first = tracker.Track(pre, tilts, options);
        var (rms, wrong, count) = Accuracy(series, prexg, first.Observations);

        // The solve as `align` runs it: rotation per view, tilt and magnification chosen from the landmarks per view.
        var solveOptions = new SolveOptions
        {
            Robust = true, Rotation = VariableOption.Parse("per-view", "--rotation"), Tilt = VariableOption.Parse("auto", "--tilt"),
            Magnification = VariableOption.Parse("auto", "--mag"),
        };
        var solver = new BundleSolver(new CpuBundleNormalEquations());
        var solved1 = solver.Solve(new SolveInput(first.Observations, n, n, tilts, options.TiltAxisDegrees), solveOptions);
        var second = tracker.Refine(pre, first, solved1, options);
        var solved = solver.Solve(new SolveInput(second.Observations, n, n, tilts, options.TiltAxisDegrees), solveOptions);
        var final = Enumerable.Range(0, nz).Select(i => Xf.Product(prexg[i], solved.Views[i].RawToAligned())).ToArray();
        double field = AlignmentCheck.FieldErrorAfterGauge(series, final), beads = AlignmentCheck.ErrorAfterGauge(series, final);
        output.WriteLine($"{name}: {series.Beads.Length} beads in the series, {first.Seeded} seeded, {first.TrackLengths.Count} tracked, " +
                         $"{first.Observations.Count} observations ({count - wrong} on their bead, RMS {rms:F3} px, {wrong} off), fewest per view " +
                         $"{first.BeadsPerView.Min()}, coverage {first.Coverage:P0}, surfaces {first.Surfaces}, reach {first.SearchReach}, retried {first.Retried}; " +
                         $"alignment error {beads:F3} px at the beads, {field:F3} px over the field");

        Assert.True(first.Reliable, string.Join("; ", first.Problems));
        Assert.Equal(1.0, first.Coverage);
        Assert.True(first.BeadsPerView.Min() >= 5, $"a view kept only {first.BeadsPerView.Min()} beads");
        Assert.True(first.TrackLengths.Count >= 0.7 * Math.Min(series.Beads.Length, options.Beads), $"{first.TrackLengths.Count} of {series.Beads.Length} beads tracked");
        Assert.True(wrong <= 0.01 * count, $"{wrong} of {count} points not on their bead");
        // The matched filter places a bead to about a fifth of a pixel at 16 e/px; noisier (5 e/px) and smaller beads less well.
        Assert.True(rms < 0.4, $"tracked points {rms:F3} px RMS from the truth");
        if (series.Options.TwoSurfaces) Assert.True(first.Surfaces.Bottom >= 2 && first.Surfaces.Top >= 2, $"surfaces {first.Surfaces}");
        Assert.True(field < tolerance, $"alignment error over the field {field:F3} px");
        Assert.True(beads < tolerance, $"alignment error at the beads {beads:F3} px");
    }

    /// <summary>
    /// A prealignment off by 150–250 px in every third view (beyond any search): the tracker cannot place those views
    /// and says so (unreliable, the thin views listed), and what it did track is still right.
    /// </summary>
    [Fact]
    public void APrealignmentBeyondReachIsReportedNotHidden()
    {
        var series = new TiltSeriesSimulator().Simulate(SimulationZoo.Options("weak-texture", 384, 31) with { TiltStep = 4 });
        var rng = new Random(3);
        var prexg = TruePrexg(series, 0, 0, 1).Select((q, i) =>
        {
            if (i % 3 != 1) return q;
            double a = rng.NextDouble() * 2 * Math.PI, r = 150 + 100 * rng.NextDouble();
            return q with { Dx = q.Dx + r * Math.Cos(a), Dy = q.Dy + r * Math.Sin(a) };
        }).ToArray();
        var pre = Prealign(series, prexg);
        var result = new BeadTracker(new CpuTemplateCorrelator()).Track(pre, series.NominalTilts,
            new BeadTrackOptions { BeadDiameter = 2 * series.Options.BeadRadiusPixels, TiltAxisDegrees = 85 });
        var (rms, wrong, count) = Accuracy(series, prexg, result.Observations);
        output.WriteLine($"{result.Observations.Count} observations, thin views {string.Join(",", result.ThinViews)}, problems: {string.Join("; ", result.Problems)}; RMS {rms:F3}, {wrong} of {count} off");
        Assert.False(result.Reliable);
        Assert.NotEmpty(result.ThinViews);
        Assert.True(result.Retried);
        Assert.True(wrong <= 0.02 * count, $"{wrong} of {count} points not on their bead");
    }

    [Theory]
    [InlineData(2.0, false)]
    [InlineData(30.0, false)]
    [InlineData(10.0, true)]
    public void AWrongDiameterOrPolarityFailsWithTheFix(double diameter, bool light)
    {
        var series = new TiltSeriesSimulator().Simulate(SimulationZoo.Options("weak-texture", 384, 41) with { TiltStep = 6 });
        var pre = Prealign(series, TruePrexg(series, 0, 0, 1));
        var result = new BeadTracker(new CpuTemplateCorrelator()).Track(pre, series.NominalTilts,
            new BeadTrackOptions { BeadDiameter = diameter, TiltAxisDegrees = 85, LightBeads = light });
        var check = result.Presence!;
        output.WriteLine($"{check.Problem} → {check.Fix}; scan: {string.Join(" ", check.Scan.Select(s => $"{s.Diameter}:{s.Contrast:F1}/{s.OppositeContrast:F1}"))}");
        Assert.Equal(BeadPresence.WrongDiameter, check.Presence);
        Assert.Equal(0, result.Seeded);
        Assert.False(result.Reliable);
        Assert.Empty(result.Observations);
        // The best-matching diameter is the beads' (10 px) within the scan's 20 % steps.
        Assert.InRange(check.BestDiameter, 8, 12.5);
        if (light) Assert.True(check.OppositePolarity);
        else Assert.Contains("look about", check.Problem);
    }

    [Fact]
    public void NoBeadsFailsClearly()
    {
        var series = new TiltSeriesSimulator().Simulate(SimulationZoo.Options("markerless-weak", 384, 43) with { TiltStep = 6 });
        var pre = Prealign(series, TruePrexg(series, 0, 0, 1));
        var result = new BeadTracker(new CpuTemplateCorrelator()).Track(pre, series.NominalTilts, new BeadTrackOptions { BeadDiameter = 10, TiltAxisDegrees = 85 });
        output.WriteLine(result.Presence!.Problem);
        Assert.Equal(BeadPresence.Absent, result.Presence!.Presence);
        Assert.Equal(0, result.Seeded);
        Assert.False(result.Reliable);
    }

    /// <summary>`track --bead-diameter 2` on 10 px beads: exit 2, the message names the beads' size, NAME.track.json holds the check.</summary>
    [Fact]
    public void TrackCommandRefusesAWrongDiameterWithTheBeadsSize()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--name", "s", "--size", "256", "--tilt-step", "10", "--seed", "7", "--style", "weak-texture");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("track", dir.File("s.mrc"), "--angles", dir.File("s.rawtlt"), "--tilt-axis", "85", "--bead-diameter", "2", "--out", dir.Path, "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("look about", r.ToString());
        Assert.Contains("--bead-diameter", r.ToString());
        string json = File.ReadAllText(dir.File("s.track.json"));
        Assert.Contains("\"bestDiameter\"", json);
        Assert.Contains("WrongDiameter", json);
    }
}
