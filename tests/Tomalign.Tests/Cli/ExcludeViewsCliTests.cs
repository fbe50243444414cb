using System.Globalization;
using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Simulation;
using Tomalign.Tests.Coarse;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Cli;

/// <summary>
/// `--exclude-views` on the single-stage commands, with IMOD's meanings: `coarse` skips the views and bridges the chain
/// across them (tiltxcorr SkipViews), `track` and `patch` put no points on them (beadtrack SkipViews), `apply` leaves
/// them out of the aligned stack (newstack -exclude), `reconstruct` does not backproject them (tilt EXCLUDELIST).
/// The excluded view is a wrong image (another view's content, shifted): nothing in the data says it is bad, so only
/// the user's list keeps it out.
/// </summary>
public sealed class ExcludeViewsCliTests(ITestOutputHelper output)
{
    private static SimulatedSeries Simulate(int seed) =>
        new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(256) with
        {
            TiltMin = -60, TiltMax = 60, TiltStep = 4, TiltAxisDegrees = 85, ShiftWalkSigmaPixels = 4, Seed = seed,
        }, null);

    /// <summary>Writes the series with view <paramref name="bad"/> replaced by view 0's image shifted by (37, −23) px.</summary>
    private static SimulationFileSet WriteWithWrongView(SimulatedSeries sim, string dir, int bad)
    {
        var files = SimulationFiles.Write(sim, dir, "s", 2.0);
        var stack = new ImageStack(sim.Raw.Nx, sim.Raw.Ny, sim.Raw.Nz, (float[])sim.Raw.Data.Clone());
        var source = sim.Raw.ReadView(0);
        var target = stack.View(bad);
        int nx = stack.Nx, ny = stack.Ny;
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
                target[y * nx + x] = source[((y + 23) % ny) * nx + (x + nx - 37) % nx];
        MrcWriter.WriteStack(files.Stack, stack);
        return files;
    }

    private static float[] ReadAll(string path, out (int Nx, int Ny, int Nz) size)
    {
        using var r = MrcReader.Open(path);
        size = (r.Nx, r.Ny, r.Nz);
        var data = new float[(long)r.Nx * r.Ny * r.Nz];
        r.ReadSections(0, r.Nz, data);
        return data;
    }

    private static List<(int Landmark, double X, double Y, int View)> ReadPoints(string fidTxt) =>
        File.ReadAllLines(fidTxt).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(t =>
            (int.Parse(t[0], CultureInfo.InvariantCulture), double.Parse(t[1], CultureInfo.InvariantCulture),
             double.Parse(t[2], CultureInfo.InvariantCulture), int.Parse(t[3], CultureInfo.InvariantCulture))).ToList();

    [Fact]
    public void CoarseSkipsTheViewsAndBridgesTheChainAcrossThem()
    {
        using var dir = new TempDir();
        var sim = Simulate(3);
        int bad = 20;
        var files = WriteWithWrongView(sim, dir.Path, bad);
        string outDir = dir.File("c");
        var r = CliRunner.Run("coarse", files.Stack, "--angles", files.RawTilt, "--tilt-axis", "85", "--exclude-views", (bad + 1).ToString(CultureInfo.InvariantCulture),
            "--out", outDir, "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var prexf = ImodText.ReadXf(Path.Combine(outDir, "s.prexf"));
        var prexg = ImodText.ReadXf(Path.Combine(outDir, "s.prexg"));
        Assert.Equal(sim.Raw.Nz, prexg.Length);
        Assert.Equal(Xf.Identity, prexf[bad]);
        double rms = CoarseAccuracyTests.ResidualRms(sim, prexg, out double raw, skip: [bad]);
        output.WriteLine($"coarse with view {bad + 1} excluded: {rms:F3} px RMS over the other views after offset and a·sin θ ({raw:F2} px raw)");
        Assert.True(rms < 1.0, $"coarse with an excluded view: {rms:F3} px RMS over the other views (limit 1.0 px)");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "s.coarse.json")));
        var results = doc.RootElement.GetProperty("results");
        Assert.Equal(new[] { bad + 1 }, results.GetProperty("excludedViews").EnumerateArray().Select(e => e.GetInt32()));
        var pairs = results.GetProperty("pairs").EnumerateArray().ToArray();
        Assert.DoesNotContain(pairs, p => p.GetProperty("view").GetInt32() == bad || p.GetProperty("neighbour").GetInt32() == bad);
        Assert.Contains(pairs, p => p.GetProperty("view").GetInt32() == bad + 1 && p.GetProperty("neighbour").GetInt32() == bad - 1);
    }

    [Fact]
    public void ApplyLeavesTheViewsOutOfTheAlignedStackAndReconstructLeavesThemOutOfTheTomogram()
    {
        using var dir = new TempDir();
        var sim = Simulate(4);
        var files = SimulationFiles.Write(sim, dir.Path, "s", 2.0);
        int nz = sim.Raw.Nz;
        int[] excluded = [2, 9, 10];                        // 0-based; "3,10-11" 1-based
        var r = CliRunner.Run("apply", files.Stack, "--xf", files.Xf, "--out", dir.File("all.ali"), "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("apply", files.Stack, "--xf", files.Xf, "--exclude-views", "3,10-11", "--out", dir.File("some.ali"), "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var all = ReadAll(dir.File("all.ali"), out var allSize);
        var some = ReadAll(dir.File("some.ali"), out var someSize);
        Assert.Equal((allSize.Nx, allSize.Ny, nz - 3), someSize);
        int[] keep = Enumerable.Range(0, nz).Except(excluded).ToArray();
        int view = allSize.Nx * allSize.Ny;
        for (int k = 0; k < keep.Length; k++)
            Assert.True(all.AsSpan(keep[k] * view, view).SequenceEqual(some.AsSpan(k * view, view)), $"view {k} of the output is not input view {keep[k]}");

        // reconstruct --exclude-views on the whole aligned stack = reconstruct of a stack without those views.
        r = CliRunner.Run("reconstruct", dir.File("all.ali"), "--angles", files.RawTilt, "--thickness", "40", "--exclude-views", "3,10-11",
            "--out", dir.File("excl.rec"), "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var sub = new ImageStack(allSize.Nx, allSize.Ny, keep.Length);
        for (int k = 0; k < keep.Length; k++) all.AsSpan(keep[k] * view, view).CopyTo(sub.View(k));
        MrcWriter.WriteStack(dir.File("sub.ali"), sub);
        var tilts = ImodText.ReadAngles(files.RawTilt);
        File.WriteAllLines(dir.File("sub.tlt"), keep.Select(v => tilts[v].ToString("R", CultureInfo.InvariantCulture)));
        r = CliRunner.Run("reconstruct", dir.File("sub.ali"), "--angles", dir.File("sub.tlt"), "--thickness", "40", "--out", dir.File("sub.rec"), "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("reconstruct", dir.File("all.ali"), "--angles", files.RawTilt, "--thickness", "40", "--out", dir.File("all.rec"), "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var excl = ReadAll(dir.File("excl.rec"), out _);
        Assert.Equal(ReadAll(dir.File("sub.rec"), out _), excl);
        Assert.NotEqual(ReadAll(dir.File("all.rec"), out _), excl);     // the option is not ignored
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("excl.reconstruct.json")));
        Assert.Equal(new[] { 3, 10, 11 }, doc.RootElement.GetProperty("results").GetProperty("excludedViews").EnumerateArray().Select(e => e.GetInt32()));

        // A list outside the stack is a clear usage error naming the range.
        r = CliRunner.Run("reconstruct", dir.File("all.ali"), "--angles", files.RawTilt, "--thickness", "40", "--exclude-views", $"{nz + 1}", "--out", dir.File("x.rec"), "--device", "cpu");
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains($"1…{nz}", r.Err);
        Assert.False(File.Exists(dir.File("x.rec")));
    }

    [Theory]
    [InlineData("track")]
    [InlineData("patch")]
    public void TrackingPutsNoPointsOnTheViewsAndTracksTheOthersAsAStackWithoutThem(string command)
    {
        using var dir = new TempDir();
        var sim = Simulate(6);
        int bad = 21, nz = sim.Raw.Nz;
        string wrong = Path.Combine(dir.Path, "wrong"), cut = Path.Combine(dir.Path, "cut");
        var wrongFiles = WriteWithWrongView(sim, wrong, bad);
        // The same series with the view physically removed: its stack, angles and prealignment.
        Directory.CreateDirectory(cut);
        int[] keep = Enumerable.Range(0, nz).Where(v => v != bad).ToArray();
        var sub = new ImageStack(sim.Raw.Nx, sim.Raw.Ny, keep.Length);
        for (int k = 0; k < keep.Length; k++) sim.Raw.ReadView(keep[k]).CopyTo(sub.View(k));
        MrcWriter.WriteStack(Path.Combine(cut, "s.mrc"), sub);
        File.WriteAllLines(Path.Combine(cut, "s.rawtlt"), keep.Select(v => File.ReadAllLines(wrongFiles.RawTilt)[v]));
        File.WriteAllLines(Path.Combine(cut, "s.xf"), keep.Select(v => File.ReadAllLines(wrongFiles.Xf)[v]));
        var cutFiles = wrongFiles with { Stack = Path.Combine(cut, "s.mrc"), RawTilt = Path.Combine(cut, "s.rawtlt"), Xf = Path.Combine(cut, "s.xf") };

        string diameter = (2 * sim.Options.BeadRadiusPixels).ToString(CultureInfo.InvariantCulture);
        // The true alignment (the axis along Y, hence tilt axis 0) as the prealignment: tracking alone is under test.
        string[] Args(SimulationFileSet f, string outDir, params string[] extra) => command == "track"
            ? ["track", f.Stack, "--angles", f.RawTilt, "--prexg", f.Xf, "--bead-diameter", diameter, "--beads", "12", "--tilt-axis", "0", "--out", outDir, "--device", "cpu", .. extra]
            : ["patch", f.Stack, "--angles", f.RawTilt, "--prexg", f.Xf, "--tilt-axis", "0", "--out", outDir, "--device", "cpu", .. extra];
        var r = CliRunner.Run(Args(cutFiles, Path.Combine(cut, "t")));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run(Args(wrongFiles, Path.Combine(wrong, "t"), "--exclude-views", (bad + 1).ToString(CultureInfo.InvariantCulture)));
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var points = ReadPoints(Path.Combine(wrong, "t", "s.fid.txt"));
        var expected = ReadPoints(Path.Combine(cut, "t", "s.fid.txt")).Select(p => p with { View = keep[p.View] }).ToList();
        output.WriteLine($"{command}: {points.Count} points with view {bad + 1} excluded, {expected.Count} on the stack without it");
        Assert.DoesNotContain(points, p => p.View == bad);
        Assert.Contains(points, p => p.View == bad - 1);
        Assert.Contains(points, p => p.View == bad + 1);
        Assert.True(points.Count > 5 * (nz - 1), $"only {points.Count} points");
        // The excluded view's content plays no part: the points are those of the stack without it, on the whole stack's views.
        Assert.Equal(expected, points);
    }
}
