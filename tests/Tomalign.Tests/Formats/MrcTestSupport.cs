using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Xunit;

namespace Tomalign.Tests.Formats;

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class MrcTempDir : IDisposable
{
    public MrcTempDir() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tomalign-mrc-" + Guid.NewGuid().ToString("N"));
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}

/// <summary>Runs the Debian python3 with python3-mrcfile (/usr/bin/python3, never the pyenv one on PATH).</summary>
internal static class MrcPython
{
    public const string Python = "/usr/bin/python3";
    private const string Install = "install it with: apt-get install python3-mrcfile (for /usr/bin/python3)";

    public static (int ExitCode, string Output) Run(string script, params string[] args)
    {
        if (!System.IO.File.Exists(Python))
            Assert.Fail($"{Python} not found; the MRC cross-checks need it with mrcfile: {Install}");
        var psi = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment.Remove("PYTHONPATH");
        psi.Environment.Remove("PYTHONHOME");
        psi.Environment["PYTHONNOUSERSITE"] = "1";
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{Python} timed out running: {script}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Fails (never skips) when mrcfile is missing.</summary>
    public static void RequireMrcfile()
    {
        var (code, output) = Run("import mrcfile, numpy; print(mrcfile.__version__)");
        Assert.True(code == 0, $"{Python} cannot import mrcfile/numpy ({output.Trim()}); {Install}");
    }

    public static void AssertValid(string file)
    {
        var (code, output) = Run("import mrcfile,sys; sys.exit(0 if mrcfile.validate(sys.argv[1]) else 1)", file);
        Assert.True(code == 0, $"mrcfile.validate rejected {file} (exit {code}):\n{output}");
    }
}

/// <summary>Assembles MRC files byte by byte, in either byte order, independently of MrcHeader.</summary>
internal static class MrcCraft
{
    public static byte[] Header(int nx, int ny, int nz, int mode, bool bigEndian, bool zeroMachst = false,
        int imodFlags = -1, int nsymbt = 0, string map = "MAP ")
    {
        var b = new byte[1024];
        void I(int off, int v) { if (bigEndian) BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(off), v); else BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(off), v); }
        void F(int off, float v) { if (bigEndian) BinaryPrimitives.WriteSingleBigEndian(b.AsSpan(off), v); else BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(off), v); }
        I(0, nx); I(4, ny); I(8, nz); I(12, mode);
        I(28, nx); I(32, ny); I(36, nz);
        F(40, nx * 2f); F(44, ny * 2f); F(48, nz * 2f);          // 2 Å pixels
        F(52, 90); F(56, 90); F(60, 90);
        I(64, 1); I(68, 2); I(72, 3);
        F(76, 0); F(80, -1); F(84, -2);                          // statistics undetermined (dmax < dmin, dmean < both)
        I(92, nsymbt);
        I(108, 20141);
        if (imodFlags >= 0) { I(152, 1146047817); I(156, imodFlags); }
        Encoding.ASCII.GetBytes(map).CopyTo(b, 208);
        if (!zeroMachst)
        {
            if (bigEndian) { b[212] = 0x11; b[213] = 0x11; }
            else { b[212] = 0x44; b[213] = 0x44; }
        }
        F(216, -1);                                              // rms undetermined
        I(220, 1);
        Encoding.ASCII.GetBytes("crafted by the Tomalign tests".PadRight(80)).CopyTo(b, 224);
        return b;
    }

    public static void Write(string path, byte[] header, byte[] data, byte[]? ext = null)
    {
        using var f = System.IO.File.Create(path);
        f.Write(header);
        if (ext is not null) f.Write(ext);
        f.Write(data);
    }

    /// <summary>Deterministic test values: integers in [lo, hi] from pixel index i.</summary>
    public static int IntValue(int i, int lo, int hi) => lo + (int)(((long)i * 7919 + 13) % (hi - lo + 1));
}
