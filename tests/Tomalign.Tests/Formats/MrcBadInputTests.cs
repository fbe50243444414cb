using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Xunit;

namespace Tomalign.Tests.Formats;

public class MrcBadInputTests
{
    private static string WriteGood(MrcTempDir dir, string name, int nx = 12, int ny = 10, int nz = 4)
    {
        string path = dir.File(name);
        var s = new ImageStack(nx, ny, nz);
        for (int i = 0; i < s.Data.Length; i++) s.Data[i] = i;
        MrcWriter.WriteStack(path, s);
        return path;
    }

    private static TomalignInputException AssertBad(string path, params string[] phrases)
    {
        var e = Assert.Throws<TomalignInputException>(() => MrcReader.Open(path).Dispose());
        Assert.Equal(path, e.File);
        Assert.Contains(Path.GetFileName(path), e.Message);
        Assert.False(string.IsNullOrWhiteSpace(e.Fix), "the message must say how to fix it");
        Assert.Contains("Fix:", e.Message);
        foreach (var p in phrases) Assert.Contains(p, e.Message, StringComparison.OrdinalIgnoreCase);
        return e;
    }

    [Fact]
    public void Truncated_File_IsRejected()
    {
        using var dir = new MrcTempDir();
        string path = WriteGood(dir, "cut.mrc");
        using (var f = new FileStream(path, FileMode.Open)) f.SetLength(f.Length - 7);
        var e = AssertBad(path, "truncated", "copy it again");
        Assert.Contains("3 of 4 sections", e.Message);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(3)]
    [InlineData(101)]
    [InlineData(77)]
    public void UnknownMode_IsRejected(int mode)
    {
        using var dir = new MrcTempDir();
        string path = dir.File($"mode{mode}.mrc");
        MrcCraft.Write(path, MrcCraft.Header(8, 8, 1, mode, bigEndian: false), new byte[8 * 8 * 8]);
        AssertBad(path, $"unsupported MRC mode {mode}", "newstack -mode 2");
    }

    [Fact]
    public void HeaderNzLargerThanFile_IsRejected()
    {
        using var dir = new MrcTempDir();
        string path = WriteGood(dir, "nz.mrc");
        using (var f = new FileStream(path, FileMode.Open))
        {
            f.Position = 8;
            f.Write(BitConverter.GetBytes(9));   // NZ 4 → 9
        }
        AssertBad(path, "truncated", "NZ", "4 of 9 sections");
    }

    [Fact]
    public void ShorterThanHeader_IsRejected()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("tiny.mrc");
        File.WriteAllBytes(path, new byte[300]);
        AssertBad(path, "shorter than the 1024-byte MRC header");
    }

    [Fact]
    public void NonPositiveSize_IsRejected()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("zero.mrc");
        MrcCraft.Write(path, MrcCraft.Header(0, 8, 1, 2, bigEndian: false), new byte[256]);
        AssertBad(path, "not positive");
    }

    [Fact]
    public void ExtendedHeaderPastEnd_IsRejected()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("ext.mrc");
        MrcCraft.Write(path, MrcCraft.Header(4, 4, 1, 2, bigEndian: false, nsymbt: 1 << 20), new byte[64]);
        AssertBad(path, "NSYMBT", "past the end");
        MrcCraft.Write(path, MrcCraft.Header(4, 4, 1, 2, bigEndian: false, nsymbt: -8), new byte[64]);
        AssertBad(path, "NSYMBT", "negative");
    }

    [Fact]
    public void MissingFile_IsRejected()
    {
        using var dir = new MrcTempDir();
        AssertBad(dir.File("absent.mrc"), "not found");
    }

    [Fact]
    public void LongerFile_IsAccepted_WithTrailingBytes()
    {
        using var dir = new MrcTempDir();
        string path = WriteGood(dir, "long.mrc");
        using (var f = new FileStream(path, FileMode.Append)) f.Write(new byte[100]);
        using var r = MrcReader.Open(path);
        Assert.Equal(100, r.TrailingBytes);
        Assert.Equal(479f, r.ReadAll().Data[^1]);
    }

    [Fact]
    public void AbandonedWriter_LeavesNoFile_AndDoesNotClobber()
    {
        using var dir = new MrcTempDir();
        string fresh = dir.File("fresh.mrc");
        using (var w = MrcWriter.Create(fresh, 8, 8, 2))
            w.WriteSection(0, new float[64]);
        Assert.False(File.Exists(fresh));

        string existing = WriteGood(dir, "existing.mrc");
        var before = File.ReadAllBytes(existing);
        var w2 = MrcWriter.Create(existing, 8, 8, 2, MrcMode.Float16);
        w2.WriteSection(1, Enumerable.Repeat(5f, 64).ToArray());
        Assert.True(File.Exists(w2.TempPath));
        w2.Dispose();
        w2.Dispose();   // idempotent, throws nothing
        Assert.Equal(before, File.ReadAllBytes(existing));
        Assert.Equal(["existing.mrc"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Writer_MissingFolder_IsAnInputError()
    {
        using var dir = new MrcTempDir();
        string path = Path.Combine(dir.Path, "no-such-folder", "out.mrc");
        var e = Assert.Throws<TomalignInputException>(() => MrcWriter.Create(path, 4, 4, 1));
        Assert.Contains("out.mrc", e.Message);
        Assert.Contains("Fix:", e.Message);
    }
}
