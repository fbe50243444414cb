using System.Globalization;
using System.Text;
using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Pipeline;

/// <summary>
/// `align` with neither --angles nor --tilt-axis: the angles, the tilt axis and the dose come from SerialEM's mdoc beside the
/// stack, a view is left out, and the exports (tilt.com, RELION 5, Warp, the .aln's dark frame) refer to the right views;
/// `tomalign export` then writes the same RELION file from the alignment alone.
/// </summary>
public sealed class MetadataExportPipelineTests(PipelineSeriesFixture fixture) : IClassFixture<PipelineSeriesFixture>
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    [Fact]
    public void AlignFromTheMdocBesideTheStack_ExportsWithThePreExposureOfEachView()
    {
        using var dir = new TempDir();
        string stack = dir.File("ts.mrc");
        File.Copy(fixture.Files.Stack, stack);
        var tilts = ImodText.ReadAngles(fixture.Files.RawTilt);
        int n = tilts.Length;
        // Dose-symmetric acquisition: from 0° outwards, alternating sides; 2.5 e/Å² per view, the prior dose of each given.
        var order = Enumerable.Range(0, n).OrderBy(i => Math.Abs(tilts[i])).ThenBy(i => tilts[i] < 0 ? 1 : 0).ToArray();
        var rank = new int[n];
        for (int q = 0; q < n; q++) rank[order[q]] = q;
        var mdoc = new StringBuilder($"PixelSpacing = 3.1\nImageFile = ts.mrc\nVoltage = 300\n\n[T = SerialEM: test]\n\n[T =     Tilt axis angle = {fixture.Options.TiltAxisDegrees.ToString(Inv)}, binning = 1]\n\n");
        for (int z = 0; z < n; z++)
            mdoc.Append(Inv, $"[ZValue = {z}]\nTiltAngle = {tilts[z]}\nExposureDose = 2.5\nPriorRecordDose = {2.5 * rank[z]}\nDateTime = 01-Dec-25  10:{rank[z]:D2}:00\n\n");
        File.WriteAllText(stack + ".mdoc", mdoc.ToString());

        string outDir = dir.File("out");
        var r = CliRunner.Run("align", stack, "--bead-diameter", fixture.Diameter, "--exclude-views", "1", "--device", "cpu", "--out", outDir, "--quiet");
        Assert.True(r.ExitCode is ExitCodes.Ok or 4, r.ToString());   // 4: unreliable verdict; the files are written all the same

        // The angles from the mdoc, the axis from its header; recorded in the report.
        Assert.Equal(tilts, ImodText.ReadAngles(Path.Combine(outDir, "ts.rawtlt")));
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "ts.align.json")));
        var acq = report.RootElement.GetProperty("results").GetProperty("acquisition");
        Assert.Equal(fixture.Options.TiltAxisDegrees, acq.GetProperty("tiltAxis").GetDouble(), 9);
        Assert.Equal(2.5 * rank[3], acq.GetProperty("preExposure")[3].GetDouble(), 9);
        Assert.StartsWith("mdoc ", acq.GetProperty("anglesSource").GetString());

        // RELION: one row per aligned view (view 1 left out), each with its own pre-exposure and nominal tilt; the pixel size of
        // the stack's header (2 Å, the stack as given) before the mdoc's (3.1 Å, the camera's).
        var star = File.ReadAllLines(Path.Combine(outDir, "relion", "tilt_series", "ts.star"));
        var cols = star.Where(l => l.StartsWith('_')).Select(l => l.Split(' ')[0][1..]).ToList();
        var rows = star.Where(l => l.Contains('@')).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(n - 1, rows.Count);
        for (int k = 0; k < rows.Count; k++)
        {
            Assert.Equal(2.5 * rank[k + 1], double.Parse(rows[k][cols.IndexOf("rlnMicrographPreExposure")], Inv), 6);
            Assert.Equal(tilts[k + 1], double.Parse(rows[k][cols.IndexOf("rlnTomoNominalStageTiltAngle")], Inv), 6);
        }
        var global = File.ReadAllLines(Path.Combine(outDir, "relion", "tomograms.star"));
        var gcols = global.Where(l => l.StartsWith('_')).Select(l => l.Split(' ')[0][1..]).ToList();
        var grow = global.Single(l => l.StartsWith("ts ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2.0, double.Parse(grow[gcols.IndexOf("rlnTomoTiltSeriesPixelSize")], Inv), 6);
        Assert.Equal(300.0, double.Parse(grow[gcols.IndexOf("rlnVoltage")], Inv), 6);

        // IMOD: tilt.com for ts.ali, and the input stack's files with view 1 excluded; AreTomo: view 0 a dark frame.
        Assert.Contains("TILTFILE ts.tlt", File.ReadAllText(Path.Combine(outDir, "ts.tilt.com")));
        Assert.Contains("EXCLUDELIST 1\n", File.ReadAllText(Path.Combine(outDir, "ts.input.tilt.com")));
        var aln = AreTomoAln.Read(Path.Combine(outDir, "ts.aln"));
        Assert.Equal(n, aln.RawNz);
        Assert.Equal(0, aln.DarkFrames.Single().RawIndex);
        Assert.True(File.Exists(Path.Combine(outDir, "warp", "ts", "ts.xf")));

        // `tomalign export` from the alignment alone (the prepared stack, its .xf and .tlt, the mdoc for the dose) gives the same
        // RELION geometry (the pre-exposure is that of the prepared stack's views, here from the mdoc of the user's stack: not given).
        string again = dir.File("again");
        r = CliRunner.Run("export", Path.Combine(outDir, "ts.prepared.mrc"), "--xf", Path.Combine(outDir, "ts.xf"), "--tlt", Path.Combine(outDir, "ts.tlt"),
            "--name", "ts", "--out", again, "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var star2 = File.ReadAllLines(Path.Combine(again, "relion", "tilt_series", "ts.star")).Where(l => l.Contains('@'))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        foreach (var c in new[] { "rlnTomoYTilt", "rlnTomoZRot", "rlnTomoXShiftAngst", "rlnTomoYShiftAngst" })
            for (int k = 0; k < rows.Count; k++)
                Assert.True(Math.Abs(double.Parse(rows[k][cols.IndexOf(c)], Inv) - double.Parse(star2[k][cols.IndexOf(c)], Inv)) < (c.Contains("Shift") ? 0.05 : 0.01),
                    $"{c} of view {k}: {rows[k][cols.IndexOf(c)]} from align, {star2[k][cols.IndexOf(c)]} from export");
    }

    [Fact]
    public void WithoutTiltAxisAndWithoutAnMdoc_NoAxisIsAssumed()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("align", fixture.Files.Stack, "--angles", fixture.Files.RawTilt, "--bead-diameter", fixture.Diameter, "--device", "cpu",
            "--out", dir.File("out"), "--quiet");
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("no tilt axis was given", r.Err);
        Assert.Contains("--tilt-axis", r.Err);
    }
}
