using System.Diagnostics;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Core.Simulation;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Coarse;

/// <summary>
/// Coarse alignment across a zoo of simulated styles (issue 14): every view's coarse shift must be
/// within a stated tolerance of the truth, or the view must be flagged untrusted — never silently wild.
/// </summary>
public class CoarseZooTests
{
    private readonly ITestOutputHelper _output;
    public CoarseZooTests(ITestOutputHelper output) => _output = output;

    /// <summary>The styles: the failing case of issue 14 (weak texture, strong beads, 250 px slab, 16 e/px, drift 5) and its variants.</summary>
    internal static SimulationOptions Style(string name, int seed, int size = 512)
    {
        var weak = SimulationOptions.ForSize(size) with
        {
            TiltMin = -60, TiltMax = 60, TiltStep = 3, TiltAxisDegrees = 85,
            ThicknessPixels = 250, BeadRadiusPixels = 5, DoseElectronsPerPixel = 16, ShiftWalkSigmaPixels = 5,
            RotationJitterDegrees = 0.2, BlobDensity = 0.0005, Seed = seed,
        };
        return name switch
        {
            "weak-0.0005" => weak,
            "weak-0.002" => weak with { BlobDensity = 0.002 },
            "weak-0.002-drift2" => weak with { BlobDensity = 0.002, ShiftWalkSigmaPixels = 2 },
            "default-texture" => weak with { BlobDensity = new SimulationOptions().BlobDensity },
            "low-dose-5" => weak with { BlobDensity = 0.001, DoseElectronsPerPixel = 5 },
            "drift-15" => weak with { BlobDensity = 0.001, ShiftWalkSigmaPixels = 15 },
            "thick-300" => weak with { BlobDensity = 0.001, ThicknessPixels = 300 },
            "one-surface" => weak with { BlobDensity = 0.001, TwoSurfaces = false },
            "no-beads" => weak with { BlobDensity = new SimulationOptions().BlobDensity, BeadCount = 0 },
            _ => throw new ArgumentException(name),
        };
    }

    internal static readonly string[] Styles =
        ["weak-0.0005", "weak-0.002", "weak-0.002-drift2", "default-texture", "low-dose-5", "drift-15", "thick-300", "one-surface", "no-beads"];

    /// <summary>
    /// Per view, |prexg shift − true raw → reference shift| at the image centre after removing a
    /// constant offset and a·sin θ per axis (the specimen's height gauge, fitted over all views).
    /// </summary>
    internal static double[] ViewErrors(SimulatedSeries sim, IReadOnlyList<Xf> prexg)
    {
        int nz = sim.Raw.Nz;
        var toReference = sim.AligningTransforms[sim.ReferenceView].Inverse();
        var rx = new double[nz]; var ry = new double[nz]; var s = new double[nz];
        for (int i = 0; i < nz; i++)
        {
            var truth = Xf.Product(sim.AligningTransforms[i], toReference);
            rx[i] = prexg[i].Dx - truth.Dx;
            ry[i] = prexg[i].Dy - truth.Dy;
            s[i] = Math.Sin(sim.NominalTilts[i] * Math.PI / 180);
        }
        double[] Remove(double[] r)
        {
            double ms = s.Average(), mr = r.Average();
            double sxy = 0, sxx = 0;
            for (int i = 0; i < r.Length; i++) { sxy += (s[i] - ms) * (r[i] - mr); sxx += (s[i] - ms) * (s[i] - ms); }
            double a = sxy / sxx, c = mr - a * ms;
            return r.Select((v, i) => v - c - a * s[i]).ToArray();
        }
        var fx = Remove(rx); var fy = Remove(ry);
        return fx.Zip(fy, (a, b) => Math.Sqrt(a * a + b * b)).ToArray();
    }

    /// <summary>
    /// Styles the coarse stage must align: RMS over all views within 3 px of the truth after the
    /// height gauge (measured 0.6–1.9 px, seed 7; before this work 1.5–523 px), every view trusted, and
    /// no view that claims trust off by more than 8 px.
    /// </summary>
    [Theory]
    [InlineData("weak-0.002-drift2")]
    [InlineData("default-texture")]
    [InlineData("one-surface")]
    [InlineData("no-beads")]
    public void AlignsWithinThreePixels(string style)
    {
        var (sim, result, e) = Run(style, 7);
        double rms = Math.Sqrt(e.Select(x => x * x).Average());
        Assert.True(rms < 3.0, $"{style}: coarse {rms:F2} px RMS vs the truth (limit 3 px)");
        Assert.True(result.Quality.Trustworthy, $"{style}: an accurate alignment should be reported trustworthy ({Summary(result)})");
        AssertNeverSilentlyWild(style, result, e);
    }

    /// <summary>
    /// Bead-dominated series with beads on two surfaces of a thick slab (weak texture, low dose, large drift,
    /// 300 px): neighbour pairs lock onto either surface, so the shifts can be off by the parallax between
    /// them. The coarse stage must either be within 5 px RMS or report that it cannot be trusted — before
    /// this work they came out 230–580 px off with nothing flagged.
    /// </summary>
    [Theory]
    [InlineData("weak-0.0005")]
    [InlineData("weak-0.002")]   // 2.6 px, but its primary chain closure flags it (a false alarm, on the safe side)
    [InlineData("low-dose-5")]
    [InlineData("drift-15")]
    [InlineData("thick-300")]
    public void AccurateOrFlagged(string style)
    {
        var (sim, result, e) = Run(style, 7);
        double rms = Math.Sqrt(e.Select(x => x * x).Average());
        if (result.Quality.Trustworthy)
            Assert.True(rms < 5.0, $"{style}: reported trustworthy but {rms:F2} px RMS vs the truth ({Summary(result)})");
        else
            Assert.NotEmpty(result.Warnings);
        // Whatever the verdict, nothing is wild: no shift beyond a quarter of the field.
        Assert.True(e.Max() < 0.25 * sim.Raw.Nx, $"{style}: a view is {e.Max():F1} px off ({Summary(result)})");
        Assert.True(result.Quality.LargestShiftFraction < 0.5, $"{style}: largest shift {result.Quality.LargestShiftFraction:P0} of the field");
    }

    /// <summary>Views the result trusts (<see cref="CoarseAlignResult.ViewTrusted"/>) are within 8 px, unless the whole result is flagged.</summary>
    private static void AssertNeverSilentlyWild(string style, CoarseAlignResult result, double[] e)
    {
        if (!result.Quality.Trustworthy) return;
        for (int i = 0; i < e.Length; i++)
            Assert.False(result.ViewTrusted[i] && e[i] > 8, $"{style}: view {i} is trusted but {e[i]:F1} px off");
    }

    private static (SimulatedSeries Sim, CoarseAlignResult Result, double[] Errors) Run(string style, int seed)
    {
        var sim = new TiltSeriesSimulator().Simulate(Style(style, seed));
        var result = new CoarseAligner(new CpuPairCorrelator()).Align(sim.Raw, sim.NominalTilts, new CoarseAlignOptions { TiltAxisDegrees = 85 });
        Assert.Equal(sim.Raw.Nz, result.ViewTrusted.Count);
        Assert.InRange(result.Quality.FractionTrusted, 0, 1);
        return (sim, result, ViewErrors(sim, result.Prexg));
    }

    /// <summary>Prints the zoo table (set TOMALIGN_COARSE_ZOO=1; seeds from TOMALIGN_COARSE_ZOO_SEEDS, default 7).</summary>
    [SkippableFact]
    public void ZooTable()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("TOMALIGN_COARSE_ZOO") == "1", "set TOMALIGN_COARSE_ZOO=1 to print the zoo table");
        var seeds = (Environment.GetEnvironmentVariable("TOMALIGN_COARSE_ZOO_SEEDS") ?? "7").Split(',').Select(int.Parse).ToArray();
        var only = Environment.GetEnvironmentVariable("TOMALIGN_COARSE_ZOO_STYLES")?.Split(',') ?? Styles;
        foreach (string style in only)
            foreach (int seed in seeds)
            {
                var sw = Stopwatch.StartNew();
                var sim = new TiltSeriesSimulator().Simulate(Style(style, seed));
                double tSim = sw.Elapsed.TotalSeconds; sw.Restart();
                var result = new CoarseAligner(new CpuPairCorrelator()).Align(sim.Raw, sim.NominalTilts, DevOptions());
                double tCoarse = sw.Elapsed.TotalSeconds;
                var e = ViewErrors(sim, result.Prexg);
                var silent = Enumerable.Range(0, e.Length).Where(i => result.ViewTrusted[i] && e[i] > 5).ToArray();
                _output.WriteLine($"   untrusted views {result.Quality.UntrustedViews.Count}, trusted views with error > 5 px: {silent.Length} (max {(silent.Length > 0 ? silent.Max(i => e[i]) : 0):F1})");
                if (Environment.GetEnvironmentVariable("TOMALIGN_COARSE_ZOO_PAIRS") == "1")
                    foreach (var p in result.Pairs)
                        _output.WriteLine($"     {p.View,2}<-{p.Neighbour,2} s {p.Strength:F3} null {p.NullStrength:F3} snr {p.PeakSnr:F2} clo {p.ClosureResidualPixels,6:F1} bd {p.BinningDisagreementPixels,6:F1} {(p.Trusted ? "T" : "-")}{(p.Interpolated ? "I" : "")} b{p.Bin} err {e[p.View],6:F1}");
                double rms = Math.Sqrt(e.Select(x => x * x).Average());
                double medianStrength = result.Pairs.Select(p => p.Strength).OrderBy(x => x).ElementAt(result.Pairs.Count / 2);
                _output.WriteLine($"{style,-18} seed {seed}: RMS {rms,8:F2} px, max {e.Max(),8:F2} px, bin {result.Bin}, median strength {medianStrength:F3}, " +
                    $"{Summary(result)} (sim {tSim:F1} s, coarse {tCoarse:F1} s)");
            }
    }

    private static CoarseAlignOptions DevOptions()
    {
        var o = new CoarseAlignOptions { TiltAxisDegrees = 85 };
        foreach (var kv in (Environment.GetEnvironmentVariable("TOMALIGN_COARSE_ZOO_OPTS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var (k, v) = (kv.Split('=')[0], kv.Split('=')[1]);
            o = k switch
            {
                "clip" => o with { ClipStdDevs = double.Parse(v) },
                "bin" => o with { Bin = int.Parse(v) },
                "filter" => o with { Filter = new BandPassFilter(double.Parse(v.Split('/')[0]), double.Parse(v.Split('/')[1]), double.Parse(v.Split('/')[2])) },
                _ => throw new ArgumentException(k),
            };
        }
        return o;
    }

    internal static string Summary(CoarseAlignResult r)
    {
        var q = r.Quality;
        return $"clip {r.ClipStdDevs}, trusted {q.TrustedPairs}/{q.Pairs}, interp {q.InterpolatedPairs}, snr {q.MedianPeakSnr:F2}, closure {q.ChainClosureRmsPixels:F2}, " +
            $"cut {q.Spectral?.CutoffCyclesPerPixel:F3} ({string.Join(" ", q.Spectral?.BandSnr.Select(x => x.ToString("F2")) ?? [])}) [" + string.Join("; ", q.Candidates.Select(c => $"b{c.Bin}{(c.BeadsDamped ? "d" : "")} {c.FractionTrusted:F2} {c.MedianPeakSnr:F2} {c.ChainClosureRmsPixels:F1}")) + "]";
    }
}
