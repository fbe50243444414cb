using Tomalign.Cli;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Formats;

public sealed class AreTomoAlnTests
{
    private const string Header = "# AreTomo Alignment / Priims bprmMn\n# RawSize = 400 300 4\n# NumPatches = 0\n";
    private const string Columns = "# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT\n";

    [Theory]
    [InlineData(1)]   // AreTomo3
    [InlineData(0)]   // AreTomo2
    public void ReadsTheTableDarkViewsAndLocalSectionAndGivesImodTransforms(int firstSec)
    {
        using var dir = new TempDir();
        string text = Header + "# DarkFrame =     0    1   -45.00\n# AlphaOffset =     0.00\n# BetaOffset =     0.00\n" + Columns +
            $"{firstSec,5}   -90.0000    1.00000     10.000     20.000     1.00     1.00     1.00     0.00    -15.00\n" +
            $"{firstSec + 1,5}   -90.0000    1.00000      0.000      0.000     1.00     1.00     1.00     0.00      0.00\n" +
            $"{firstSec + 2,5}   -90.0000    2.00000      4.000      0.000     1.00     1.00     1.00     0.00     15.00\n" +
            "# Local Alignment\n   0   0   -100.00    50.00      0.50     -0.25   1.0\n";
        File.WriteAllText(dir.File("a.aln"), text);
        var aln = AreTomoAln.Read(dir.File("a.aln"));
        Assert.Equal((400, 300, 4), (aln.RawNx, aln.RawNy, aln.RawNz));
        Assert.Equal(3, aln.Rows.Count);
        Assert.Equal([1, 2, 3], aln.RawIndexes());
        var (xf, tilts) = aln.ToImod();
        Assert.Equal([-45.0, -15, 0, 15], tilts);
        Assert.Equal(Xf.Identity, xf[0]);   // the dark view
        // Shift by −(10, 20), then rotate by −90°: A = [[0, 1], [−1, 0]], D = −A·T = (−20, 10).
        Assert.True(xf[1].ApproximatelyEquals(new Xf(0, 1, -1, 0, -20, 10), 1e-12), xf[1].ToString());
        // GMAG 2: the view is twice as large, so the alignment halves it.
        Assert.True(xf[3].ApproximatelyEquals(new Xf(0, 0.5, -0.5, 0, 0, 2), 1e-12), xf[3].ToString());
    }

    [Fact]
    public void ImodTransformsSurviveTheRoundTrip()
    {
        using var dir = new TempDir();
        var rng = new Random(3);
        var xfs = Enumerable.Range(0, 7).Select(_ => Xf.RotationScale(rng.NextDouble() * 360 - 180, 1 + (rng.NextDouble() - 0.5) * 0.04,
            rng.NextDouble() * 200 - 100, rng.NextDouble() * 200 - 100)).ToArray();
        var tilts = Enumerable.Range(0, 7).Select(i => -60.0 + 20 * i).ToArray();
        AreTomoAln.FromImod(xfs, tilts, 2048, 1024).Write(dir.File("b.aln"));
        var back = AreTomoAln.Read(dir.File("b.aln"));
        Assert.Equal(1, back.Rows[0].Section);
        var (xf2, tilts2) = back.ToImod();
        Assert.Equal(tilts, tilts2);
        for (int i = 0; i < xfs.Length; i++)
            foreach (var (x, y) in new[] { (0.0, 0.0), (2048.0, 0.0), (0.0, 1024.0), (2048.0, 1024.0) })
            {
                var a = xfs[i].Apply(x, y, 1024, 512);
                var b = xf2[i].Apply(x, y, 1024, 512);
                Assert.True(Math.Abs(a.X - b.X) < 0.01 && Math.Abs(a.Y - b.Y) < 0.01, $"view {i} corner ({x}, {y}): {b} vs {a}");
            }
    }

    [Theory]
    [InlineData("# RawSize = 400 300 5\n" + Columns + "1 0 1 0 0 1 1 1 0 0\n", "RawSize says 5 views")]
    [InlineData("# RawSize = 400 300 1\n" + Columns + "5 0 1 0 0 1 1 1 0 0\n", "SEC column starts at 5")]
    [InlineData("# RawSize = 400 300 1\n1 0 1 0 0 1 1 1 0 0\n", "before the '# SEC")]
    [InlineData("# RawSize = 400 300 1\n" + Columns + "1 0 1 0 0 1 1\n", "holds 7 values, not 10")]
    [InlineData("# RawSize = 400 300 1\n" + Columns + "1 0 0 0 0 1 1 1 0 0\n", "GMAG 0")]
    [InlineData("# RawSize = 400 300 1\n" + Columns, "no alignment rows")]
    public void RefusesABrokenFileNamingIt(string text, string expected)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("bad.aln"), text);
        var e = Assert.Throws<TomalignInputException>(() => AreTomoAln.Read(dir.File("bad.aln")));
        Assert.Contains(expected, e.Message);
        Assert.Contains("bad.aln", e.Message);
    }

    [Fact]
    public void ConvertGoesBothWaysAndApplyReadsAnAln()
    {
        using var dir = new TempDir();
        var xfs = new[] { Xf.RotationScale(-95, 1, 3, -4), Xf.RotationScale(-95.2, 1.01, -7, 2), Xf.RotationScale(-94.9, 0.99, 0, 0) };
        ImodText.WriteXf(dir.File("s.xf"), xfs);
        ImodText.WriteAngles(dir.File("s.tlt"), [-30, 0, 30]);
        var r = CliRunner.Run("convert", "--xf", dir.File("s.xf"), "--tlt", dir.File("s.tlt"), "--size", "64,48", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("convert", "--aln", dir.File("s.aln"), "--name", "back", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var back = ImodText.ReadXf(dir.File("back.xf"));
        for (int i = 0; i < xfs.Length; i++) Assert.True(back[i].ApproximatelyEquals(xfs[i], 2e-3), $"{back[i]} vs {xfs[i]}");
        Assert.Equal([-30.0, 0, 30], ImodText.ReadAngles(dir.File("back.tlt")));

        // apply --xf F.aln gives the stack apply --xf F.xf gives.
        var rng = new Random(1);
        var stack = new Tomalign.Core.Imaging.ImageStack(64, 48, 3);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = (float)rng.NextDouble();
        MrcWriter.WriteStack(dir.File("s.mrc"), stack);
        Assert.Equal(ExitCodes.Ok, CliRunner.Run("apply", dir.File("s.mrc"), "--xf", dir.File("back.xf"), "--device", "cpu", "--out", dir.File("a.ali"), "-q").ExitCode);
        Assert.Equal(ExitCodes.Ok, CliRunner.Run("apply", dir.File("s.mrc"), "--xf", dir.File("s.aln"), "--device", "cpu", "--out", dir.File("b.ali"), "-q").ExitCode);
        // Equal but for the files' rounding (the .aln keeps 4 decimals of ROT and 3 of TX, TY): far closer than any other stack.
        double same = Commands.RelativeRmsDifference(dir.File("b.ali"), dir.File("a.ali"));
        Assert.True(same < 2e-3, $"relative difference {same}");
        Assert.Equal(ExitCodes.Ok, CliRunner.Run("apply", dir.File("s.mrc"), "--xf", dir.File("s.xf"), "--bin", "1", "--device", "cpu", "--out", dir.File("c.ali"), "-q").ExitCode);
        ImodText.WriteXf(dir.File("shifted.xf"), xfs.Select(x => x with { Dx = x.Dx + 0.5 }).ToArray());
        Assert.Equal(ExitCodes.Ok, CliRunner.Run("apply", dir.File("s.mrc"), "--xf", dir.File("shifted.xf"), "--device", "cpu", "--out", dir.File("d.ali"), "-q").ExitCode);
        Assert.True(Commands.RelativeRmsDifference(dir.File("d.ali"), dir.File("c.ali")) > 20 * same);

        // One of the two, not both, not neither.
        Assert.Equal(ExitCodes.InputError, CliRunner.Run("convert", "--out", dir.Path).ExitCode);
        Assert.Equal(ExitCodes.InputError, CliRunner.Run("convert", "--aln", dir.File("s.aln"), "--xf", dir.File("s.xf"), "--out", dir.Path).ExitCode);
        Assert.Equal(ExitCodes.InputError, CliRunner.Run("convert", "--xf", dir.File("s.xf"), "--tlt", dir.File("s.tlt"), "--size", "64", "--out", dir.Path).ExitCode);
    }
}
