using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Patches;
using Tomalign.Core.Simulation;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Patches;

/// <summary>
/// Issue 14 item 3: markerless tilt angles that improve on the nominal ones or stay at them (the automatic tilt prior of
/// <see cref="BundleSolver"/>), measured against the simulator's true tilts over several seeds. Tilt errors are the RMS
/// of solved − true after removing their mean (the common offset: the reference view's tilt is the gauge).
/// </summary>
public sealed class MarkerlessTiltTests(ITestOutputHelper output)
{
    private static readonly int[] Seeds = [21, 23, 1];

    private static SolveOptions Markerless(TiltPriorOption prior) => new()
    {
        Robust = true, WeightWholeTracks = true, Tilt = VariableOption.Auto, Magnification = VariableOption.Auto, TiltPrior = prior,
    };

    /// <summary>
    /// A 256²×41 series with a 25 px slab (thin against the field): over three seeds the automatic choice solves tilts within
    /// 0.5° RMS of the truth in the worst case and 0.35° at the median (measured 0.29 / 0.24 / 0.18°, nominal 0.21°; free
    /// tilts 0.99 / 0.67 / 0.26°), and the field error after the gauge is below the coarse stage's for every seed and below
    /// 0.8 px at the median (measured 0.54 / 0.67 / 0.46 px, coarse alone 0.80 / 1.47 / 0.90 px).
    /// </summary>
    [Fact]
    public void ThinSlabTiltsAndFieldErrorOverSeeds()
    {
        var rows = Seeds.Select(seed => Run(SimulationOptions.ForSize(256) with { Seed = seed, ThicknessPixels = 25 }, Markerless(TiltPriorOption.Auto))).ToList();
        foreach (var r in rows) output.WriteLine(r.ToString());
        Assert.All(rows, r => Assert.True(r.Field < r.Coarse, $"seed {r.Seed}: field error {r.Field:F3} px, coarse alone {r.Coarse:F3} px"));
        Assert.True(Median(rows.Select(r => r.Field)) < 0.8, $"median field error {Median(rows.Select(r => r.Field)):F3} px");
        Assert.True(rows.Max(r => r.Tilt) < 0.5, $"worst tilt error {rows.Max(r => r.Tilt):F3}° RMS");
        Assert.True(Median(rows.Select(r => r.Tilt)) < 0.35, $"median tilt error {Median(rows.Select(r => r.Tilt)):F3}° RMS");
    }

    /// <summary>
    /// The simulator's default 256² slab (60 px, a quarter of the field): free tilts follow the patch tracks' correlated errors
    /// (about 1–2° RMS from the truth, spanning about ±56°), the automatic choice keeps them within 1° of the truth for every
    /// seed (measured 0.20 / 0.30 / 0.18°; free 2.02 / 0.73 / 1.13°). The price is some of the field error that free tilts soaked
    /// up (measured 1.01 / 0.93 / 1.14 px against 0.87 / 1.02 / 0.77 px free; coarse alone 0.88 / 0.97 / 1.18 px): on a slab this
    /// thick neither solve reliably beats the coarse stage (issue 14 is open on it), so that is not asserted here.
    /// </summary>
    [Fact]
    public void ThickSlabTiltsStayNearTheNominalOnes()
    {
        var rows = new List<(Row Auto, Row Off)>();
        foreach (int seed in Seeds)
        {
            var sim = SimulationOptions.ForSize(256) with { Seed = seed };
            var (auto, off) = RunBoth(sim, Markerless(TiltPriorOption.Auto), Markerless(TiltPriorOption.Off));
            output.WriteLine($"auto: {auto}\n  off: {off}");
            rows.Add((auto, off));
        }
        Assert.True(rows.Max(r => r.Auto.Tilt) < 1.0, $"worst tilt error {rows.Max(r => r.Auto.Tilt):F3}° RMS");
        Assert.True(Median(rows.Select(r => r.Auto.Tilt)) < 0.5, $"median tilt error {Median(rows.Select(r => r.Auto.Tilt)):F3}° RMS");
        // The problem is there to solve: without the prior the tilts are clearly worse (median at least twice the error, worst above 1°).
        Assert.True(Median(rows.Select(r => r.Off.Tilt)) > 2 * Median(rows.Select(r => r.Auto.Tilt)),
            $"free tilts median error {Median(rows.Select(r => r.Off.Tilt)):F3}° against {Median(rows.Select(r => r.Auto.Tilt)):F3}° with the prior");
        Assert.True(rows.Max(r => r.Off.Tilt) > 1.0, $"free tilts worst error {rows.Max(r => r.Off.Tilt):F3}°");
        Assert.All(rows, r => Assert.True(r.Auto.Field < r.Off.Field + 0.5, $"seed {r.Auto.Seed}: field error {r.Auto.Field:F3} px, with free tilts {r.Off.Field:F3} px"));
        Assert.True(Median(rows.Select(r => r.Auto.Field - r.Off.Field)) < 0.25, "median field error cost of the prior");
        Assert.All(rows, r => Assert.NotEqual("free", r.Auto.Choice));
    }

    internal sealed record Row(int Seed, double Coarse, double Field, double Tilt, double Nominal, string Choice, string Reason)
    {
        public override string ToString() =>
            $"seed {Seed}: coarse {Coarse:F3} px, solve {Field:F3} px; tilts {Tilt:F3}° RMS (nominal {Nominal:F3}°), {Choice}: {Reason}";
    }

    private static Row Run(SimulationOptions sim, SolveOptions options) => RunBoth(sim, options, null).A;

    private static (Row A, Row B) RunBoth(SimulationOptions sim, SolveOptions a, SolveOptions? b)
    {
        var series = new TiltSeriesSimulator().Simulate(sim);
        int nx = series.Raw.Nx, ny = series.Raw.Ny, nz = series.Raw.Nz;
        var tilts = series.NominalTilts;
        double axis = sim.TiltAxisDegrees;
        var coarse = new CoarseAligner(new CpuPairCorrelator()).Align(series.Raw, tilts, new CoarseAlignOptions { TiltAxisDegrees = axis });
        var pre = new ImageStack(nx, ny, nz);
        new CpuBackend().Warper.Warp(series.Raw.Data, nx, ny, nz, coarse.Prexg, series.Raw.ViewMeans(), new WarpOptions(1, Interpolation.Linear), pre.Data);
        var track = new PatchTracker(new CpuPairCorrelator()).Track(pre, tilts, new PatchTrackOptions { TiltAxisDegrees = axis });
        double coarseError = AlignmentCheck.FieldErrorAfterGauge(series, coarse.Prexg.Select(g => Xf.Product(g, Xf.RotationScale(-axis, 1, 0, 0))).ToArray());
        double nominal = TiltErrorAfterOffset(series, tilts);
        Row Solve(SolveOptions o)
        {
            var solved = new BundleSolver(new CpuBundleNormalEquations()).Solve(new SolveInput(track.Observations, nx, ny, tilts, axis), o);
            var final = Enumerable.Range(0, nz).Select(i => Xf.Product(coarse.Prexg[i], solved.Views[i].RawToAligned())).ToArray();
            return new Row(sim.Seed, coarseError, AlignmentCheck.FieldErrorAfterGauge(series, final),
                TiltErrorAfterOffset(series, solved.Views.Select(v => v.TiltDegrees).ToArray()), nominal,
                solved.TiltChoice?.Chosen ?? "none", solved.TiltChoice?.Reason ?? "");
        }
        return (Solve(a), b is null ? null! : Solve(b));
    }

    /// <summary>RMS of solved − true tilt (degrees) after removing the mean difference.</summary>
    internal static double TiltErrorAfterOffset(SimulatedSeries series, IReadOnlyList<double> tilts)
    {
        var d = Enumerable.Range(0, tilts.Count).Select(i => tilts[i] - series.TrueTilts[i]).ToArray();
        double mean = d.Average();
        return Math.Sqrt(d.Average(x => (x - mean) * (x - mean)));
    }

    private static double Median(IEnumerable<double> values)
    {
        var s = values.OrderBy(v => v).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}
