using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Xunit;

namespace Tomalign.Tests.Formats;

/// <summary>Cross-checks against mrcfile (the CCP-EM reference implementation) and hand-crafted files.</summary>
public class MrcInteropTests
{
    [Theory]
    [InlineData(MrcMode.Float32, 1, false)]
    [InlineData(MrcMode.Float32, 7, false)]
    [InlineData(MrcMode.Float16, 7, false)]
    [InlineData(MrcMode.Float32, 4, true)]
    [InlineData(MrcMode.Float16, 4, true)]
    public void WrittenFiles_PassMrcfileValidate(MrcMode mode, int nz, bool withExtendedHeader)
    {
        MrcPython.RequireMrcfile();
        using var dir = new MrcTempDir();
        string path = dir.File($"valid-{mode}-{nz}.mrc");
        var rng = new Random(11);
        var stack = new ImageStack(33, 20, nz);
        // mrcfile's validate recomputes the statistics with numpy in the data's own type: a float16 sum over
        // 65504 overflows there (its limitation, not the file's), so the float16 values are kept small.
        float offset = mode == MrcMode.Float16 ? 1 : 100, scale = mode == MrcMode.Float16 ? 0.5f : 20;
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = offset + scale * (float)rng.NextDouble();
        var options = new MrcWriteOptions
        {
            PixelSizeAngstrom = 1.35, Labels = ["validator test"],
            ExtendedHeader = withExtendedHeader ? new byte[1024] : null,
            ExtendedType = withExtendedHeader ? "SERI" : "",
        };
        MrcWriter.WriteStack(path, stack, mode, options);
        MrcPython.AssertValid(path);
    }

    private const string PythonWriter = """
import sys, numpy as np, mrcfile
out = sys.argv[1]
rng = np.random.default_rng(20141)
shape = (3, 11, 17)   # nz, ny, nx
data = {
    0: rng.integers(-128, 128, shape).astype(np.int8),
    1: rng.integers(-32768, 32768, shape).astype(np.int16),
    2: (rng.standard_normal(shape) * 1000).astype(np.float32),
    6: rng.integers(0, 65536, shape).astype(np.uint16),
    12: (rng.standard_normal(shape) * 100).astype(np.float16),
}
for mode, d in data.items():
    with mrcfile.new(f"{out}/mode{mode}.mrc", overwrite=True) as m:
        m.set_data(d)
        m.voxel_size = 1.5
        assert int(m.header.mode) == mode, (mode, int(m.header.mode))
    d.astype('<f4').tofile(f"{out}/mode{mode}.bin")
print("ok")
""";

    [Theory]
    [InlineData(MrcMode.Int8)]
    [InlineData(MrcMode.Int16)]
    [InlineData(MrcMode.Float32)]
    [InlineData(MrcMode.UInt16)]
    [InlineData(MrcMode.Float16)]
    public void ReadsFilesWrittenByMrcfile(MrcMode mode)
    {
        MrcPython.RequireMrcfile();
        using var dir = new MrcTempDir();
        var (code, output) = MrcPython.Run(PythonWriter, dir.Path);
        Assert.True(code == 0, $"mrcfile writer script failed (exit {code}):\n{output}");

        string mrc = dir.File($"mode{(int)mode}.mrc");
        var expected = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(dir.File($"mode{(int)mode}.bin"))).ToArray();
        using var r = MrcReader.Open(mrc);
        Assert.Equal(mode, r.Header.Mode);
        Assert.Equal((17, 11, 3), (r.Nx, r.Ny, r.Nz));
        Assert.Equal(1.5, r.Header.PixelSizeX, 1e-6);
        Assert.False(r.Header.Int8Unsigned);
        var stack = r.ReadAll();
        Assert.Equal(expected, stack.Data);
        var s = r.ComputeStatistics();
        Assert.Equal(expected.Min(), s.Min);
        Assert.Equal(expected.Max(), s.Max);
    }

    [Theory]
    [InlineData(MrcMode.Float32, false)]
    [InlineData(MrcMode.Float32, true)]     // MACHST left zero: byte order found from a plausible header
    [InlineData(MrcMode.Int16, false)]
    [InlineData(MrcMode.UInt16, true)]
    [InlineData(MrcMode.Float16, false)]
    public void ReadsHandCraftedBigEndianFiles(MrcMode mode, bool zeroMachst)
    {
        using var dir = new MrcTempDir();
        string path = dir.File("big-endian.mrc");
        const int nx = 9, ny = 4, nz = 3, n = nx * ny * nz;
        var expected = new float[n];
        int bpp = mode.BytesPerPixel();
        var data = new byte[n * bpp];
        for (int i = 0; i < n; i++)
        {
            var span = data.AsSpan(i * bpp);
            switch (mode)
            {
                case MrcMode.Float32: expected[i] = CraftValue(i) * 0.37f; BinaryPrimitives.WriteSingleBigEndian(span, expected[i]); break;
                case MrcMode.Int16: expected[i] = MrcCraft.IntValue(i, -32768, 32767); BinaryPrimitives.WriteInt16BigEndian(span, (short)expected[i]); break;
                case MrcMode.UInt16: expected[i] = MrcCraft.IntValue(i, 0, 65535); BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)expected[i]); break;
                case MrcMode.Float16:
                    var h = (Half)(CraftValue(i) * 0.37f);
                    expected[i] = (float)h;
                    BinaryPrimitives.WriteUInt16BigEndian(span, BitConverter.HalfToUInt16Bits(h));
                    break;
            }
        }
        MrcCraft.Write(path, MrcCraft.Header(nx, ny, nz, (int)mode, bigEndian: true, zeroMachst: zeroMachst), data);

        using var r = MrcReader.Open(path);
        Assert.True(r.Header.BigEndian);
        Assert.Equal((nx, ny, nz, mode), (r.Nx, r.Ny, r.Nz, r.Header.Mode));
        Assert.Equal(2.0, r.Header.PixelSizeX, 1e-9);
        Assert.Equal(["crafted by the Tomalign tests"], r.Header.Labels);
        Assert.Equal(expected, r.ReadAll().Data);

        if (!zeroMachst)
        {
            // mrcfile agrees that it is a valid big-endian MRC2014 file.
            MrcPython.RequireMrcfile();
            MrcPython.AssertValid(path);
        }
    }

    private static float CraftValue(int i) => MrcCraft.IntValue(i, -5000, 5000);

    [Theory]
    [InlineData(1, false)]     // IMOD flag bit 0: "bytes are stored signed"
    [InlineData(0, true)]      // IMOD stamp without the flag: unsigned (IMOD's rule; newstack writes these)
    [InlineData(-1, true)]     // no IMOD stamp, no header statistics: unsigned, as IMOD reads it
    public void Mode0_SignedOrUnsignedPerImodFlag(int imodFlags, bool unsigned)
    {
        using var dir = new MrcTempDir();
        string path = dir.File("bytes.mrc");
        const int nx = 16, ny = 16, nz = 2;
        var data = new byte[nx * ny * nz];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 37 + 5);
        MrcCraft.Write(path, MrcCraft.Header(nx, ny, nz, 0, bigEndian: false, imodFlags: imodFlags), data);

        using var r = MrcReader.Open(path);
        Assert.Equal(unsigned, r.Header.Int8Unsigned);
        var back = r.ReadAll().Data;
        for (int i = 0; i < data.Length; i++)
            Assert.Equal(unsigned ? data[i] : (sbyte)data[i], back[i]);
        Assert.Contains(back, v => unsigned ? v > 127 : v < 0);
    }
}
