using System.Buffers.Binary;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Xunit;

namespace Tomalign.Tests.Cli;

/// <summary>
/// Bad input ends in one clear message (file, what is wrong, how to fix), exit code 2, no stack
/// trace, and nothing written.
/// </summary>
public sealed class BadInputTests
{
    private static ImageStack RandomStack(int nx, int ny, int nz)
    {
        var rng = new Random(7);
        var s = new ImageStack(nx, ny, nz);
        for (int i = 0; i < s.Data.Length; i++) s.Data[i] = (float)rng.NextDouble();
        return s;
    }

    /// <summary>Writes a good 16×16×3 stack and its identity .xf; returns their paths.</summary>
    private static (string Stack, string Xf) GoodInputs(TempDir dir)
    {
        string stack = dir.File("in.mrc"), xf = dir.File("in.xf");
        MrcWriter.WriteStack(stack, RandomStack(16, 16, 3));
        ImodText.WriteXf(xf, [Xf.Identity, Xf.Identity, Xf.Identity]);
        return (stack, xf);
    }

    internal static void AssertCleanFailure(CliRunner.Outcome r, string fileName, string mustMention, TempDir dir, params string[] expectedFiles)
    {
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        string[] errorLines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("error:")).ToArray();
        Assert.True(errorLines.Length == 1, "expected exactly one error line\n" + r);
        Assert.Contains(fileName, errorLines[0]);
        Assert.Contains(mustMention, errorLines[0], StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Fix:", errorLines[0]);
        Assert.DoesNotContain("   at ", r.Err);            // no stack trace
        Assert.DoesNotContain("Exception", r.Err);
        Assert.Equal(expectedFiles.OrderBy(x => x), dir.Files().OrderBy(x => x));   // nothing written, no temp left
    }

    [Fact]
    public void TruncatedMrc()
    {
        using var dir = new TempDir();
        var (stack, xf) = GoodInputs(dir);
        byte[] bytes = File.ReadAllBytes(stack);
        File.WriteAllBytes(stack, bytes[..^100]);
        var r = CliRunner.Run("apply", stack, "--xf", xf, "--out", dir.File("out.ali"));
        AssertCleanFailure(r, "in.mrc", "truncated", dir, "in.mrc", "in.xf");
        Assert.Equal(bytes.Length - 100, new FileInfo(stack).Length);    // input untouched
    }

    [Fact]
    public void UnknownMode()
    {
        using var dir = new TempDir();
        var (stack, xf) = GoodInputs(dir);
        byte[] bytes = File.ReadAllBytes(stack);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(12), 101);
        File.WriteAllBytes(stack, bytes);
        var r = CliRunner.Run("apply", stack, "--xf", xf, "--out", dir.File("out.ali"));
        AssertCleanFailure(r, "in.mrc", "mode", dir, "in.mrc", "in.xf");
    }

    [Fact]
    public void HeaderSizesDisagreeWithFileLength()
    {
        using var dir = new TempDir();
        var (stack, xf) = GoodInputs(dir);
        byte[] bytes = File.ReadAllBytes(stack);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(0), 40);     // NX 16 → 40: the data would be longer than the file
        File.WriteAllBytes(stack, bytes);
        var r = CliRunner.Run("info", stack);
        AssertCleanFailure(r, "in.mrc", "bytes", dir, "in.mrc", "in.xf");
    }

    [Fact]
    public void NonNumericLineInTransformFile()
    {
        using var dir = new TempDir();
        var (stack, xf) = GoodInputs(dir);
        var lines = File.ReadAllLines(xf);
        lines[1] = "1 0 0 1 abc 0";
        File.WriteAllLines(xf, lines);
        var r = CliRunner.Run("apply", stack, "--xf", xf, "--out", dir.File("out.ali"));
        AssertCleanFailure(r, "in.xf", "line 2", dir, "in.mrc", "in.xf");
    }

    [Fact]
    public void TransformCountDiffersFromViewCount()
    {
        using var dir = new TempDir();
        var (stack, xf) = GoodInputs(dir);
        ImodText.WriteXf(xf, [Xf.Identity, Xf.Identity]);
        var r = CliRunner.Run("apply", stack, "--xf", xf, "--out", dir.File("out.ali"));
        AssertCleanFailure(r, "in.xf", "2", dir, "in.mrc", "in.xf");
        Assert.Contains("3", r.Err);
    }

    [Fact]
    public void AngleCountDiffersFromViewCount()
    {
        using var dir = new TempDir();
        var (stack, _) = GoodInputs(dir);
        string angles = dir.File("in.rawtlt");
        ImodText.WriteAngles(angles, [-3.0, 0.0, 3.0, 6.0]);
        var r = CliRunner.Run("info", stack, "--angles", angles);
        AssertCleanFailure(r, "in.rawtlt", "4", dir, "in.mrc", "in.xf", "in.rawtlt");
        Assert.Contains("3 views", r.Err);
    }

    [Fact]
    public void NaNPixelsAreRefusedByApply()
    {
        using var dir = new TempDir();
        string stack = dir.File("in.mrc"), xf = dir.File("in.xf");
        var s = RandomStack(16, 16, 3);
        s[5, 5, 1] = float.NaN;
        MrcWriter.WriteStack(stack, s);
        ImodText.WriteXf(xf, [Xf.Identity, Xf.Identity, Xf.Identity]);
        var r = CliRunner.Run("apply", stack, "--xf", xf, "--out", dir.File("out.ali"));
        AssertCleanFailure(r, "in.mrc", "NaN", dir, "in.mrc", "in.xf");
    }

    [Fact]
    public void MissingFileIsAnInputError()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("info", dir.File("nope.mrc"));
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("nope.mrc", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }
}
