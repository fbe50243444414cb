using System.Globalization;
using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Simulation;
using Tomalign.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Quality;

/// <summary>
/// The quality verdict end to end (issue 15): small simulated series with known truth through `tomalign align`. A sound
/// series ends `good` with exit 0; each broken one ends `unreliable` with exit 4 (outputs written) or a clear exit 2, never
/// exit 0 with a wrong alignment; and no run is called `good` when its true error over the field exceeds 1 px.
/// </summary>
public sealed class QualityCliTests(ITestOutputHelper output)
{
    private const int Size = 256;

    /// <summary>8 px beads (radius 4) on a 256² series, 41 views; other settings as the simulator's defaults at this size.</summary>
    private static SimulationOptions Options(int seed) => SimulationOptions.ForSize(Size) with { Seed = seed, BeadRadiusPixels = 4 };

    private sealed record Case(int ExitCode, string Out, string Err, string? Verdict, string[] Codes, double TrueError)
    {
        public override string ToString() => $"exit {ExitCode}, verdict {Verdict}, true error {TrueError:F2} px [{string.Join(", ", Codes)}]\n--- stdout\n{Out}\n--- stderr\n{Err}";
    }

    /// <summary>
    /// Simulates <paramref name="options"/>, writes it, optionally prepares the output folder, aligns it, and measures the
    /// written .xf against the truth over the field (NaN when no .xf was written).
    /// </summary>
    private Case Align(SimulationOptions options, string[] extra, Action<string>? prepare = null)
    {
        using var dir = new TempDir();
        var series = new TiltSeriesSimulator().Simulate(options);
        var files = SimulationFiles.Write(series, dir.Path, "sim", 2.0);
        string outDir = dir.File("out");
        Directory.CreateDirectory(outDir);
        prepare?.Invoke(outDir);
        var r = CliRunner.Run(["align", files.Stack, "--angles", files.RawTilt, "--tilt-axis", options.TiltAxisDegrees.ToString(CultureInfo.InvariantCulture),
            "--device", "cpu", "--quiet", "--out", outDir, .. extra]);
        string xf = Path.Combine(outDir, "sim.xf"), json = Path.Combine(outDir, "sim.align.json");
        double error = File.Exists(xf) ? AlignmentCheck.FieldErrorAfterGauge(series, ImodText.ReadXf(xf)) : double.NaN;
        string? verdict = null;
        string[] codes = [];
        if (File.Exists(json))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var q = doc.RootElement.GetProperty("quality");
            verdict = q.GetProperty("verdict").GetString();
            codes = q.GetProperty("reasons").EnumerateArray().Select(x => x.GetProperty("code").GetString()!).ToArray();
            // The HTML report shows the verdict and its reasons first, and lists the unsolved views.
            string html = File.ReadAllText(Path.Combine(outDir, "sim.align.html"));
            int shown = html.IndexOf($"class=\"verdict verdict-{verdict}\"", StringComparison.Ordinal);
            Assert.True(shown > 0, $"no verdict {verdict} in the HTML report");
            Assert.True(shown < html.IndexOf("<h2>", html.IndexOf("<h2>Quality</h2>", StringComparison.Ordinal) + 1, StringComparison.Ordinal),
                "the verdict is not the report's first section");
            foreach (string code in codes) Assert.Contains($"data-code=\"{code}\"", html);
            if (q.GetProperty("unsolvedViews").GetArrayLength() > 0) Assert.Contains("id=\"unsolved-views\"", html);
        }
        var c = new Case(r.ExitCode, r.Out, r.Err, verdict, codes, error);
        output.WriteLine(c.ToString());
        // The invariant of every case: a `good` verdict only on an alignment within 1 px of the truth, exit 0 only when not
        // unreliable, exit 4 only with the verdict unreliable, and never "Aligned" over an unreliable solve.
        if (verdict == "good") Assert.True(error <= 1.0, $"`good` with a true error of {error:F2} px\n{c}");
        if (r.ExitCode == ExitCodes.Ok) Assert.True(verdict is "good" or "doubtful", c.ToString());
        if (r.ExitCode == ExitCodes.Unreliable)
        {
            Assert.Equal("unreliable", verdict);
            Assert.Contains("Alignment UNRELIABLE: ", r.Out);
            Assert.DoesNotContain("Aligned", r.Out);
        }
        return c;
    }

    [Fact]
    public void ASoundBeadSeriesIsGoodAndWithinOnePixel()
    {
        var c = Align(Options(3), ["--bead-diameter", "8"]);
        Assert.True(c.ExitCode == ExitCodes.Ok, c.ToString());
        Assert.Equal("good", c.Verdict);
        Assert.Contains("Quality: good", c.Out);
        Assert.Contains("Aligned 41 views", c.Out);
        Assert.True(c.TrueError < 1.0, c.ToString());
    }

    /// <summary>
    /// Issue 15: `--bead-diameter 2` on 7 px beads tracked about 2.6 points per view and still solved a rotation per view.
    /// The simulator's 7 px beads at 256² (on 8 px beads the tracker finds none and the run ends with exit 2).
    /// </summary>
    [Fact]
    public void ABeadDiameterFarTooSmallIsUnreliable()
    {
        var c = Align(SimulationOptions.ForSize(Size) with { Seed = 3 }, ["--bead-diameter", "2"]);
        // The bead check refuses it before tracking (exit 2, naming the size the beads have); failing that, the verdict must.
        Assert.True(c.ExitCode is ExitCodes.Unreliable or ExitCodes.InputError, c.ToString());
        if (c.ExitCode == ExitCodes.InputError) Assert.Contains("--bead-diameter", c.ToString());
        else Assert.Contains("few-landmarks", c.Codes);
    }

    /// <summary>Issue 14: 4 beads in 13 observations solved to a residual of 0.005 px with an error of 499 px. Three beads in 21 views here.</summary>
    [Fact]
    public void ASeriesWithThreeBeadsIsUnreliable()
    {
        var c = Align(Options(4) with { BeadCount = 3, TiltStep = 6 }, ["--bead-diameter", "8"]);
        Assert.True(c.ExitCode is ExitCodes.Unreliable or ExitCodes.InputError, c.ToString());
    }

    /// <summary>
    /// The coarse stage forced wrong: a .prexg of random shifts of up to a quarter of the field, reused by --resume. Either
    /// bead tracking recovers (then the invariant checks the truth) or the run ends unreliable; it may not end good and wrong.
    /// </summary>
    [Fact]
    public void AWrongCoarseAlignmentIsNotPassedOffAsGood()
    {
        var rng = new Random(7);
        var c = Align(Options(5), ["--bead-diameter", "8", "--resume"], outDir =>
            ImodText.WriteXf(Path.Combine(outDir, "sim.prexg"), Enumerable.Range(0, 41)
                .Select(i => i == 20 ? Xf.Identity : new Xf(1, 0, 0, 1, rng.Next(-64, 65), rng.Next(-64, 65))).ToArray()));
        Assert.True(c.ExitCode is ExitCodes.Unreliable or ExitCodes.InputError || c.TrueError <= 1.0, c.ToString());
        Assert.True(c.ExitCode != ExitCodes.Ok || c.Verdict == "good" || c.Verdict == "doubtful", c.ToString());
    }

    /// <summary>
    /// Markerless with tilts solved per view (the default): patch landmarks compress the tilt range (±60° → about ±52°,
    /// issue 14), which the 2-D error over the field cannot see; the verdict sees it in the solved tilts.
    /// </summary>
    [Fact]
    public void MarkerlessTiltsThatLeaveTheNominalRangeAreNotGood()
    {
        // Free tilts (no prior): patch landmarks compress the tilt range, and the verdict must say so.
        var c = Align(Options(21), ["--markerless", "--tilt-prior", "off", "--tilt", "per-view"]);
        Assert.NotEqual("good", c.Verdict);
        if (c.Verdict == "unreliable") Assert.Contains("tilt-departure", c.Codes);
    }
}
