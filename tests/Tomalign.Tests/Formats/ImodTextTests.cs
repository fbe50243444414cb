using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Xunit;

namespace Tomalign.Tests.Formats;

public class ImodTextTests
{
    [Fact]
    public void WriteXf_LineFormat_IsImodFixed()
    {
        // %12.7f ×4 then %12.3f ×2, exactly as BBa.tltxf's first line
        var x = new Xf(0.9787401, -0.1898026, 0.1861716, 0.9824197, 8.908, 0.174);
        Assert.Equal("   0.9787401  -0.1898026   0.1861716   0.9824197       8.908       0.174", ImodText.FormatXf(x));
        // rounding, negative zero, and a field too wide for 12 columns stays separated
        Assert.Equal("   1.0000000   0.0000000   0.0000000   1.0000000  123456.790     -12.000",
            ImodText.FormatXf(new Xf(0.99999999, -0.00000001, 0, 1, 123456.7896, -12)));
        Assert.Equal("   1.0000000   0.0000000   0.0000000   1.0000000 123456789.000       0.000",
            ImodText.FormatXf(new Xf(1, 0, 0, 1, 123456789, -0.0001)));
    }

    [Fact]
    public void WriteAngles_LineFormat_IsF7_2()
    {
        Assert.Equal("  65.06", ImodText.FormatAngle(65.06));
        Assert.Equal(" -55.12", ImodText.FormatAngle(-55.1249));
        Assert.Equal("   0.00", ImodText.FormatAngle(-0.001));
        Assert.Equal("  -1.5000", ImodText.FormatAngle(-1.5, 4));
    }

    [Fact]
    public void Angles_RoundTripWithinPrintedPrecision()
    {
        using var tmp = new ImodTempDir();
        double[] a = [-60, -57.004, -0.5, 0, 1.239, 59.995, 60];
        string p = tmp.File("x.rawtlt");
        ImodText.WriteAngles(p, a);
        double[] back = ImodText.ReadAngles(p);
        Assert.Equal(a.Length, back.Length);
        for (int i = 0; i < a.Length; i++) Assert.InRange(Math.Abs(back[i] - a[i]), 0, 0.005 + 1e-12);
        ImodText.WriteAngles(p, a, 6);
        back = ImodText.ReadAngles(p);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], back[i], 6);
        Assert.Empty(Directory.GetFiles(tmp.Dir, "*.tmp"));
    }

    [Fact]
    public void Xf_RoundTripWithinPrintedPrecision()
    {
        using var tmp = new ImodTempDir();
        var rnd = new Random(7);
        var xs = Enumerable.Range(0, 20).Select(_ => new Xf(rnd.NextDouble() * 2 - 1, rnd.NextDouble() * 2 - 1,
            rnd.NextDouble() * 2 - 1, rnd.NextDouble() * 2 - 1, rnd.NextDouble() * 400 - 200, rnd.NextDouble() * 400 - 200)).ToArray();
        string p = tmp.File("a.xf");
        ImodText.WriteXf(p, xs);
        Xf[] back = ImodText.ReadXf(p);
        Assert.Equal(xs.Length, back.Length);
        for (int i = 0; i < xs.Length; i++)
        {
            Assert.InRange(Math.Abs(back[i].A11 - xs[i].A11), 0, 5e-8 + 1e-15);
            Assert.InRange(Math.Abs(back[i].A22 - xs[i].A22), 0, 5e-8 + 1e-15);
            Assert.InRange(Math.Abs(back[i].Dx - xs[i].Dx), 0, 5e-4 + 1e-12);
            Assert.True(back[i].ApproximatelyEquals(xs[i], 5e-4 + 1e-12));
        }
    }

    [Theory]
    [InlineData("BBa.tltxf")]
    [InlineData("BBb.tltxf")]
    public void RealXfFile_RewritesByteForByte(string name)
    {
        using var tmp = new ImodTempDir();
        string src = ImodTestData.BB(name);
        Xf[] xs = ImodText.ReadXf(src);
        Assert.Equal(61, xs.Length);
        string p = tmp.File(name);
        ImodText.WriteXf(p, xs);
        Assert.Equal(File.ReadAllText(src), File.ReadAllText(p));
    }

    [Theory]
    [InlineData("BBa.tlt")]
    [InlineData("BBb.tlt")]
    public void RealAngleFile_RewritesByteForByte(string name)
    {
        using var tmp = new ImodTempDir();
        string src = ImodTestData.BB(name);
        double[] a = ImodText.ReadAngles(src);
        Assert.Equal(61, a.Length);
        string p = tmp.File(name);
        ImodText.WriteAngles(p, a);
        Assert.Equal(File.ReadAllText(src), File.ReadAllText(p));
    }

    [Fact]
    public void WriteOverwritesAtomically_AndLeavesNoTemporaryFile()
    {
        using var tmp = new ImodTempDir();
        string p = tmp.File("a.tlt");
        File.WriteAllText(p, "old\n");
        ImodText.WriteAngles(p, [1.0, 2.0]);
        Assert.Equal("   1.00\n   2.00\n", File.ReadAllText(p));
        Assert.Single(Directory.GetFiles(tmp.Dir));
    }

    [Fact]
    public void ReadAngles_ToleratesWhitespaceAndBlankLines()
    {
        using var tmp = new ImodTempDir();
        string p = tmp.File("a.rawtlt");
        File.WriteAllText(p, "  -3.0\t\r\n0\n 3e0 \n\n\n");
        Assert.Equal([-3.0, 0.0, 3.0], ImodText.ReadAngles(p));
    }

    [Fact]
    public void ReadAngles_NonNumericLine_NamesFileAndLine()
    {
        using var tmp = new ImodTempDir();
        string p = tmp.File("bad.rawtlt");
        File.WriteAllText(p, "-3\n0\nabc\n3\n");
        var e = Assert.Throws<TomalignInputException>(() => ImodText.ReadAngles(p));
        Assert.Equal(p, e.File);
        Assert.Contains("bad.rawtlt", e.Message);
        Assert.Contains("line 3 is not a number: 'abc'", e.Message);
        Assert.Contains("one angle in degrees per line", e.Message);
    }

    [Theory]
    [InlineData("1\nNaN\n", "line 2")]
    [InlineData("1\n-Infinity\n", "line 2")]
    [InlineData("1 2\n", "line 1 holds 2 values")]
    [InlineData("", "no angles")]
    [InlineData("\n  \n", "no angles")]
    public void ReadAngles_BadContent_IsInputError(string text, string expected)
    {
        using var tmp = new ImodTempDir();
        string p = tmp.File("a.tlt");
        File.WriteAllText(p, text);
        var e = Assert.Throws<TomalignInputException>(() => ImodText.ReadAngles(p));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("1 0 0 1 0 0\n1 0 0 1 0\n", "line 2 holds 5 values, not 6")]
    [InlineData("1 0 0 1 0 0 7\n", "line 1 holds 7 values, not 6")]
    [InlineData("1 0 0 1 0 0\n\n1 0 0 x 0 0\n", "line 3 is not a number: 'x'")]
    [InlineData("", "no transforms")]
    public void ReadXf_BadContent_NamesLine(string text, string expected)
    {
        using var tmp = new ImodTempDir();
        string p = tmp.File("a.xf");
        File.WriteAllText(p, text);
        var e = Assert.Throws<TomalignInputException>(() => ImodText.ReadXf(p));
        Assert.Contains(expected, e.Message);
        Assert.Contains("a.xf", e.Message);
    }

    [Fact]
    public void MissingFile_IsInputError()
    {
        var e = Assert.Throws<TomalignInputException>(() => ImodText.ReadXf("/nonexistent/dir/none.xf"));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void RequireSameCount_NamesBothCountsAndThings()
    {
        ImodText.RequireSameCount("angles", 3, "views", 3, null);
        var e = Assert.Throws<TomalignInputException>(() =>
            ImodText.RequireSameCount("BBa.rawtlt has {0} angles", 60, "stack.mrc has {0} views", 61, "BBa.rawtlt", "give one angle per view"));
        Assert.Equal("BBa.rawtlt: BBa.rawtlt has 60 angles but stack.mrc has 61 views. Fix: give one angle per view", e.Message);
        e = Assert.Throws<TomalignInputException>(() => ImodText.RequireSameCount("angles in a.tlt", 2, "views in s.mrc", 5, null));
        Assert.StartsWith("2 angles in a.tlt but 5 views in s.mrc.", e.Message);
    }

    [Fact]
    public void ReadResid_BB_Parses23BeadsAnd1403Observations()
    {
        ImodResidual[] r = ImodResid.Read(ImodTestData.BB("BBa.resid"));
        Assert.Equal(1403, r.Length);
        Assert.Equal(22, r[^1].Landmark);
        Assert.Equal(new ImodResidual(0, 281.19, 236.96, 0, -0.20, 0.17), r[0]);
        Assert.All(r, o => Assert.InRange(o.View, 0, 60));
    }

    [Fact]
    public void ReadResid_CountMismatch_IsInputError()
    {
        using var tmp = new ImodTempDir();
        string p = tmp.File("a.resid");
        File.WriteAllText(p, "  3 residuals\n 1 2 0 0.1 0.2\n 1 2 1 0.1 0.2\n");
        var e = Assert.Throws<TomalignInputException>(() => ImodResid.Read(p));
        Assert.Contains("announces 3 residuals but the file holds 2", e.Message);
    }

    [Fact]
    public void ReadFidXyz_BB_ParsesPointsAndHeader()
    {
        ImodFidXyz f = ImodFidXyz.Read(ImodTestData.BB("BBafid.xyz"));
        Assert.Equal(23, f.Points.Length);
        Assert.Equal(new ImodFidPoint(1, 244.50, 242.64, 46.24, 1, 1), f.Points[0]);
        Assert.Equal(20.2, f.PixelSizeAngstrom);
        Assert.Equal(512, f.Nx);
        Assert.Equal(512, f.Ny);
    }
}
