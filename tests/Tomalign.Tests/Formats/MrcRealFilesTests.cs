using System.Buffers.Binary;
using System.Text;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Tomalign.Core.Pipeline;
using Xunit;

namespace Tomalign.Tests.Formats;

/// <summary>
/// MRC files as microscopes and IMOD write them: mode 0 by IMOD's rule, the header's statistics checked against the data,
/// modes 0, 1, 6 written and read back, and the FEI1, SerialEM (SERI) and Agard extended headers, built here byte by byte
/// from the published layouts (Thermo Fisher's FEI1 record; IMOD's mrc_format.txt for NINT/NREAL).
/// </summary>
public class MrcRealFilesTests
{
    private static byte[] Header(int nx, int ny, int nz, int mode, int imodFlags = -1, float dmin = 0, float dmax = -1, float dmean = -2,
        int nsymbt = 0, string exttyp = "", short nint = 0, short nreal = 0)
    {
        var b = MrcCraft.Header(nx, ny, nz, mode, bigEndian: false, imodFlags: imodFlags, nsymbt: nsymbt);
        BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(76), dmin);
        BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(80), dmax);
        BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(84), dmean);
        Encoding.ASCII.GetBytes(exttyp.PadRight(4, '\0')).CopyTo(b, 104);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(128), nint);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(130), nreal);
        return b;
    }

    /// <summary>Bytes like a cryo tilt series written by IMOD's newstack: most above 127 read signed would wrap.</summary>
    private static byte[] Bytes(int n)
    {
        var data = new byte[n];
        for (int i = 0; i < n; i++) data[i] = (byte)(16 + (i * 37) % 209);   // 16 … 224
        return data;
    }

    [Fact]
    public void Mode0_ImodWrittenUnsignedBytes_ReadUnsigned_AndTheHeaderAgrees()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("newstack2015.st");
        var data = Bytes(32 * 32 * 3);
        double mean = data.Average(v => (double)v);
        MrcCraft.Write(path, Header(32, 32, 3, 0, imodFlags: 0, dmin: 16, dmax: 224, dmean: (float)mean), data);
        using var r = MrcReader.Open(path);
        Assert.True(r.Header.Int8Unsigned);
        var back = r.ReadAll().Data;
        for (int i = 0; i < data.Length; i++) Assert.Equal(data[i], back[i]);
        Assert.Null(r.Header.StatisticsContradiction(r.ComputeStatistics(), path));
    }

    /// <summary>
    /// The 2015 IMOD stack is held out; mode-0 files of both of IMOD's conventions, built here byte by byte, are
    /// reconstructed (`reconstruct`'s path) exactly as float stacks of the values IMOD reads from them: the IMOD stamp with
    /// flags 0 → the bytes unsigned (16 … 224); with flags 1 → signed; no stamp and a negative header minimum (mrcfile) →
    /// signed. The same bytes read the other way would give another tomogram (checked: it differs). Measured against IMOD
    /// 4.8.2's tilt on such files by tools/imod-tilt-check.sh (docs/FORMATS.md).
    /// </summary>
    [Theory]
    [InlineData(0, false)]    // IMOD stamp, flags 0: unsigned
    [InlineData(1, true)]     // IMOD stamp, flags 1: signed
    [InlineData(-1, true)]    // no stamp, header minimum −93: signed (its own header says so)
    public void Mode0_BothConventions_ReconstructAsTheValuesImodReads(int imodFlags, bool signed)
    {
        using var dir = new MrcTempDir();
        const int nx = 40, ny = 12, nz = 5;
        var data = Bytes(nx * ny * nz);
        float Read(byte v) => signed ? (sbyte)v : v;
        float dmin = signed ? data.Min(v => (float)(sbyte)v) : data.Min(), dmax = signed ? data.Max(v => (float)(sbyte)v) : data.Max();
        MrcCraft.Write(dir.File("mode0.st"), Header(nx, ny, nz, 0, imodFlags, dmin, dmax, (float)data.Average(v => Read(v))), data);
        var expected = new ImageStack(nx, ny, nz);
        var wrong = new ImageStack(nx, ny, nz);
        for (int i = 0; i < data.Length; i++) { expected.Data[i] = Read(data[i]); wrong.Data[i] = signed ? data[i] : (sbyte)data[i]; }
        MrcWriter.WriteStack(dir.File("expected.mrc"), expected);
        MrcWriter.WriteStack(dir.File("wrong.mrc"), wrong);
        double[] tilts = [-50, -25, 0, 25, 50];
        var o = new Core.Reconstruction.ReconstructionOptions { Thickness = 8 };
        float[] Rec(string name)
        {
            new Core.Reconstruction.Reconstructor(new Cpu.CpuBackend()).Run(dir.File(name), tilts, dir.File(name + ".rec"), o);
            using var r = MrcReader.Open(dir.File(name + ".rec"));
            return r.ReadAll().Data;
        }
        var got = Rec("mode0.st");
        Assert.Equal(Rec("expected.mrc"), got);
        Assert.NotEqual(Rec("wrong.mrc"), got);
    }

    [Fact]
    public void Mode0_SignedFlagContradictedByTheHeaderStatistics_IsWarned()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("flagged-signed.st");
        var data = Bytes(32 * 32 * 3);
        // The IMOD stamp says "signed" but the header's statistics are those of unsigned bytes: the reading follows the flag
        // (values wrap below 0) and the contradiction is reported with both readings.
        MrcCraft.Write(path, Header(32, 32, 3, 0, imodFlags: 1, dmin: 16, dmax: 224, dmean: (float)data.Average(v => (double)v)), data);
        using var r = MrcReader.Open(path);
        Assert.False(r.Header.Int8Unsigned);
        var stats = r.ComputeStatistics();
        Assert.True(stats.Min < 0);
        string? warning = r.Header.StatisticsContradiction(stats, path);
        Assert.NotNull(warning);
        Assert.Contains("signed bytes", warning);
        Assert.Contains("maximum 224", warning);
    }

    [Theory]
    [InlineData(-100f, false)]   // no stamp, determinate negative minimum (mrcfile, EMAN2, RELION): signed
    [InlineData(5f, true)]       // no stamp, non-negative minimum: unsigned, IMOD's default
    public void Mode0_WithoutStamp_FollowsADeterminateHeader(float dmin, bool unsigned)
    {
        using var dir = new MrcTempDir();
        string path = dir.File("nostamp.mrc");
        MrcCraft.Write(path, Header(8, 8, 1, 0, imodFlags: -1, dmin: dmin, dmax: 120, dmean: 10), new byte[64]);
        using var r = MrcReader.Open(path);
        Assert.Equal(unsigned, r.Header.Int8Unsigned);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Mode0_WrittenInBothConventions_ReadsBackTheSameValues(bool signedBytes)
    {
        using var dir = new MrcTempDir();
        string path = dir.File($"bytes-{signedBytes}.mrc");
        var stack = new ImageStack(16, 16, 2);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = signedBytes ? -128 + i % 256 : i % 256;
        stack.Data[3] = signedBytes ? 500 : -7;                                     // clamped into range
        stack.Data[4] = signedBytes ? -12.6f : 12.4f;                               // rounded
        MrcWriter.WriteStack(path, stack, MrcMode.Int8, new MrcWriteOptions { SignedBytes = signedBytes });
        using var r = MrcReader.Open(path);
        Assert.Equal(MrcMode.Int8, r.Header.Mode);
        Assert.True(r.Header.HasImodStamp);
        Assert.Equal(!signedBytes, r.Header.Int8Unsigned);
        var back = r.ReadAll().Data;
        for (int i = 0; i < back.Length; i++)
        {
            float expected = i switch { 3 => signedBytes ? 127 : 0, 4 => signedBytes ? -13 : 12, _ => stack.Data[i] };
            Assert.Equal(expected, back[i]);
        }
        Assert.Null(r.Header.StatisticsContradiction(r.ComputeStatistics(), path));
        // The raw bytes follow the convention: 200 unsigned is byte 200; −56 signed is byte 200 too, flagged signed.
        var raw = File.ReadAllBytes(path);
        Assert.Equal(signedBytes ? 1 : 0, BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(156)));
    }

    [Theory]
    [InlineData(MrcMode.Int16, -32768, 32767)]
    [InlineData(MrcMode.UInt16, 0, 65535)]
    [InlineData(MrcMode.Float16, -1000, 1000)]
    public void Modes1_6_12_RoundTripWithinTheirRange(MrcMode mode, int lo, int hi)
    {
        using var dir = new MrcTempDir();
        string path = dir.File($"m{(int)mode}.mrc");
        var stack = new ImageStack(20, 10, 2);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = MrcCraft.IntValue(i, lo, hi);
        stack.Data[0] = hi + 1000f;
        MrcWriter.WriteStack(path, stack, mode);
        using var r = MrcReader.Open(path);
        Assert.Equal(mode, r.Header.Mode);
        var back = r.ReadAll().Data;
        Assert.Equal(mode == MrcMode.Float16 ? (float)(Half)(hi + 1000f) : hi, back[0]);
        for (int i = 1; i < back.Length; i++)
            Assert.Equal(mode == MrcMode.Float16 ? (float)(Half)stack.Data[i] : stack.Data[i], back[i]);
        Assert.Equal(back.Max(), r.Header.DMax);
    }

    // ------------------------------------------------------------------ extended headers

    /// <summary>One FEI1 record (packed little-endian, 768 bytes) as the FEI/Thermo "MRC2014 extended header" spec lays it out.</summary>
    private static byte[] FeiRecord(double tilt, double doseElectronsPerM2, double pixelMetres, double axis, double htVolts, uint mask)
    {
        var r = new byte[768];
        BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(0), 768);            // Metadata size
        BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(4), 2);              // Metadata version
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(8), mask);          // Bitmask 1
        Encoding.ASCII.GetBytes("TITAN52337180").CopyTo(r, 20);                // Microscope type (16 chars)
        BinaryPrimitives.WriteDoubleLittleEndian(r.AsSpan(84), htVolts);      // HT
        BinaryPrimitives.WriteDoubleLittleEndian(r.AsSpan(92), doseElectronsPerM2);
        BinaryPrimitives.WriteDoubleLittleEndian(r.AsSpan(100), tilt);        // Alpha tilt
        BinaryPrimitives.WriteDoubleLittleEndian(r.AsSpan(108), 0.5);         // Beta tilt
        BinaryPrimitives.WriteDoubleLittleEndian(r.AsSpan(140), axis);        // Tilt axis angle
        BinaryPrimitives.WriteDoubleLittleEndian(r.AsSpan(156), pixelMetres); // Pixel size X
        BinaryPrimitives.WriteDoubleLittleEndian(r.AsSpan(164), pixelMetres); // Pixel size Y
        return r;
    }

    [Fact]
    public void Fei1ExtendedHeader_GivesTiltsDosePixelAxisAndVoltage_AndTheAnglesWithoutAFile()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("epu.mrc");
        double[] tilts = [-3.02, 0.01, 2.98];
        // HT (bit 5), dose (6), alpha tilt (7), tilt axis (12), pixel X (14) valid.
        uint mask = (1u << 5) | (1u << 6) | (1u << 7) | (1u << 12) | (1u << 14);
        var ext = tilts.SelectMany(t => FeiRecord(t, 3.5e20, 2.95e-10, -84.2, 300000, mask)).ToArray();
        MrcCraft.Write(path, Header(8, 8, 3, 2, nsymbt: ext.Length, exttyp: "FEI1"), new byte[8 * 8 * 3 * 4], ext);

        using (var r = MrcReader.Open(path))
        {
            Assert.Equal("FEI1", MrcExtendedHeader.Layout(r.Header));
            var s = MrcExtendedHeader.Read(r)!;
            Assert.Equal(3, s.Length);
            for (int z = 0; z < 3; z++)
            {
                Assert.Equal(tilts[z], s[z].TiltAngle!.Value, 9);
                Assert.Equal(3.5, s[z].Dose!.Value, 9);
                Assert.Equal(2.95, s[z].PixelSizeAngstrom!.Value, 9);
                Assert.Equal(-84.2, s[z].TiltAxisAngle!.Value, 9);
                Assert.Equal(300, s[z].VoltageKv!.Value, 9);
                Assert.Null(s[z].DefocusMicrons);   // bit 22 not set
            }
        }
        var meta = SeriesMetadata.Resolve(path, null, null, 3);
        Assert.Equal(tilts, meta.Tilts);
        Assert.Contains("extended header (FEI1)", meta.AnglesSource);
        Assert.Equal(3, meta.PreExposure!.Length);
        for (int z = 0; z < 3; z++) Assert.Equal(3.5 * z, meta.PreExposure[z], 9);   // stack order = acquisition order
        Assert.Equal(-84.2, meta.TiltAxis);
    }

    [Fact]
    public void SerialEmExtendedHeader_TiltAndDoseShorts_PerImodNintNrealFlags()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("serialem.st");
        // Flags 1 (tilt × 100, 2 bytes), 4 (stage × 25, 4 bytes), 32 (dose, 2 shorts): 10 bytes per section.
        const short nint = 10, nreal = 1 | 4 | 32;
        double[] tilts = [-60.0, -0.5, 42.25];
        var ext = new byte[nint * tilts.Length];
        for (int z = 0; z < tilts.Length; z++)
        {
            var rec = ext.AsSpan(z * nint, nint);
            BinaryPrimitives.WriteInt16LittleEndian(rec, (short)Math.Round(tilts[z] * 100));
            BinaryPrimitives.WriteInt16LittleEndian(rec[2..], (short)(12.5 * 25));
            BinaryPrimitives.WriteInt16LittleEndian(rec[4..], (short)(-3 * 25));
            // Dose 3.0 e/Å² in SerialEM's packing: mantissa 3·256 (low 3, high's low byte 0), exponent −8 (high = −(8·256)).
            BinaryPrimitives.WriteInt16LittleEndian(rec[6..], 3);
            BinaryPrimitives.WriteInt16LittleEndian(rec[8..], -8 * 256);
        }
        MrcCraft.Write(path, Header(4, 4, 3, 1, nsymbt: ext.Length, exttyp: "SERI", nint: nint, nreal: nreal), new byte[4 * 4 * 3 * 2], ext);

        using var r = MrcReader.Open(path);
        Assert.Equal("SERI", MrcExtendedHeader.Layout(r.Header));
        var s = MrcExtendedHeader.Read(r)!;
        Assert.Equal(tilts, s.Select(x => x.TiltAngle!.Value).ToArray());
        Assert.All(s, x => Assert.Equal(3.0, x.Dose!.Value, 12));
        // The packing the writer side uses agrees with the decoding.
        var (lo, hi) = MrcExtendedHeader.FloatToShorts(2.07);
        Assert.Equal(2.07, MrcExtendedHeader.ShortsToFloat(lo, hi), 6);
        Assert.False(MrcExtendedHeader.SerialEmFlagsFit(12, nreal));   // bytes that do not add up: not SerialEM's flags
    }

    [Fact]
    public void AgardExtendedHeader_TiltIsTheFirstReal()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("agard.mrc");
        double[] tilts = [-20, 0, 20];
        const short nint = 1, nreal = 2;
        var ext = new byte[(nint + nreal) * 4 * tilts.Length];
        for (int z = 0; z < tilts.Length; z++)
        {
            int off = z * (nint + nreal) * 4;
            BinaryPrimitives.WriteInt32LittleEndian(ext.AsSpan(off), 77);
            BinaryPrimitives.WriteSingleLittleEndian(ext.AsSpan(off + 4), (float)tilts[z]);
            BinaryPrimitives.WriteSingleLittleEndian(ext.AsSpan(off + 8), 999f);
        }
        MrcCraft.Write(path, Header(4, 4, 3, 2, nsymbt: ext.Length, exttyp: "AGAR", nint: nint, nreal: nreal), new byte[4 * 4 * 3 * 4], ext);
        using var r = MrcReader.Open(path);
        Assert.Equal(tilts, MrcExtendedHeader.TiltAngles(MrcExtendedHeader.Read(r)));
    }

    [Fact]
    public void NoAnglesAnywhere_IsOneClearError()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("bare.mrc");
        MrcCraft.Write(path, Header(4, 4, 3, 2), new byte[4 * 4 * 3 * 4]);
        var e = Assert.Throws<TomalignInputException>(() => SeriesMetadata.Resolve(path, null, null, 3));
        Assert.Contains("no tilt angles", e.Message);
        Assert.Contains("--mdoc", e.Message);
    }

    [Fact]
    public void Info_PrintsTheExtendedHeaderAndWarnsOfAContradictingHeader()
    {
        using var dir = new MrcTempDir();
        string fei = dir.File("epu.mrc");
        uint mask = (1u << 6) | (1u << 7) | (1u << 12) | (1u << 14);
        var ext = new[] { -30.0, 0.0, 30.0 }.SelectMany(t => FeiRecord(t, 2e20, 1.5e-10, 86, 300000, mask)).ToArray();
        MrcCraft.Write(fei, Header(8, 8, 3, 2, nsymbt: ext.Length, exttyp: "FEI1"), new byte[8 * 8 * 3 * 4], ext);
        var r = Tomalign.Tests.Cli.CliRunner.Run("info", fei);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("FEI1, 3 sections, tilts -30.00° to 30.00°, dose 6.0 e/Å² in all, pixel 1.5 Å, tilt axis 86.00°", r.Out);

        string bytes = dir.File("flagged-signed.st");
        var data = Bytes(16 * 16 * 2);
        MrcCraft.Write(bytes, Header(16, 16, 2, 0, imodFlags: 1, dmin: 16, dmax: 224, dmean: (float)data.Average(v => (double)v)), data);
        r = Tomalign.Tests.Cli.CliRunner.Run("info", bytes);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("signed 8-bit (IMOD flag)", r.Out);
        Assert.Contains("the header says minimum 16, maximum 224", r.ToString());
    }
}
