using BitMiracle.LibTiff.Classic;
using Tomalign.Cli;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Formats;

/// <summary>
/// Multi-page TIFF tilt series (as SerialEM writes them: 8/16-bit unsigned, 16-bit signed, 32-bit float; compressed or not;
/// either byte order), written here with LibTiff.NET and read back through <see cref="MrcReader"/>, value for value; TIFF kinds
/// that are no tilt series are one clear input error (exit 2) naming the file and the conversion.
/// </summary>
public sealed class TiffStackTests
{
    private const int Nx = 37, Ny = 23, Nz = 4;

    /// <summary>Pixel values of the kind: view z, row y, column x (distinct, and covering the kind's range: signed ones go negative).</summary>
    private static double Value(int bits, SampleFormat f, int x, int y, int z) => (bits, f) switch
    {
        (8, SampleFormat.UINT) => (x * 7 + y * 11 + z * 53) % 256,
        (8, SampleFormat.INT) => (x * 7 + y * 11 + z * 53) % 256 - 128,
        (16, SampleFormat.UINT) => (x * 1009 + y * 317 + z * 7919) % 65536,
        (16, SampleFormat.INT) => (x * 1009 + y * 317 + z * 7919) % 65536 - 32768,
        _ => (float)(Math.Sin(x * 0.3 + z) * 1e3 + y * 0.125 - 7.5e-3 * x * y),
    };

    private static void Write(string path, int bits, SampleFormat f, Compression compression = Compression.NONE, bool bigEndian = false,
        int pages = Nz, Func<int, (int W, int H)>? size = null, int samplesPerPixel = 1, bool tiled = false)
    {
        using var tif = Tiff.Open(path, bigEndian ? "wb" : "wl") ?? throw new InvalidOperationException("cannot create " + path);
        for (int z = 0; z < pages; z++)
        {
            var (w, h) = size?.Invoke(z) ?? (Nx, Ny);
            tif.SetField(TiffTag.IMAGEWIDTH, w);
            tif.SetField(TiffTag.IMAGELENGTH, h);
            tif.SetField(TiffTag.BITSPERSAMPLE, bits);
            tif.SetField(TiffTag.SAMPLESPERPIXEL, samplesPerPixel);
            tif.SetField(TiffTag.SAMPLEFORMAT, f);
            tif.SetField(TiffTag.PHOTOMETRIC, samplesPerPixel == 3 ? Photometric.RGB : Photometric.MINISBLACK);
            tif.SetField(TiffTag.PLANARCONFIG, PlanarConfig.CONTIG);
            tif.SetField(TiffTag.COMPRESSION, compression);
            tif.SetField(TiffTag.SUBFILETYPE, FileType.PAGE);
            tif.SetField(TiffTag.PAGENUMBER, z, pages);
            int bytes = bits / 8;
            if (tiled)
            {
                tif.SetField(TiffTag.TILEWIDTH, 16);
                tif.SetField(TiffTag.TILELENGTH, 16);
                var tile = new byte[16 * 16 * bytes * samplesPerPixel];
                for (int t = 0; t < tif.NumberOfTiles(); t++) tif.WriteEncodedTile(t, tile, tile.Length);
            }
            else
            {
                tif.SetField(TiffTag.ROWSPERSTRIP, 5);
                var line = new byte[w * bytes * samplesPerPixel];
                for (int y = 0; y < h; y++)
                {
                    for (int x = 0; x < w * samplesPerPixel; x++)
                    {
                        double v = Value(bits, f, x, y, z);
                        var span = line.AsSpan(x * bytes, bytes);
                        switch (bits, f)
                        {
                            case (8, SampleFormat.INT): span[0] = (byte)(sbyte)v; break;
                            case (8, _): span[0] = (byte)v; break;
                            case (16, SampleFormat.INT): BitConverter.TryWriteBytes(span, (short)v); break;
                            case (16, _): BitConverter.TryWriteBytes(span, (ushort)v); break;
                            case (32, SampleFormat.INT): BitConverter.TryWriteBytes(span, (int)v); break;
                            default: BitConverter.TryWriteBytes(span, (float)v); break;
                        }
                    }
                    Assert.True(tif.WriteScanline(line, y), $"writing row {y} of page {z}");
                }
            }
            Assert.True(tif.WriteDirectory());
        }
    }

    [Theory]
    [InlineData(8, SampleFormat.UINT, Compression.NONE, false, MrcMode.Int8)]
    [InlineData(8, SampleFormat.UINT, Compression.LZW, false, MrcMode.Int8)]
    [InlineData(8, SampleFormat.INT, Compression.NONE, false, MrcMode.Int8)]
    [InlineData(16, SampleFormat.UINT, Compression.NONE, false, MrcMode.UInt16)]
    [InlineData(16, SampleFormat.UINT, Compression.LZW, true, MrcMode.UInt16)]     // big-endian and compressed
    [InlineData(16, SampleFormat.INT, Compression.NONE, true, MrcMode.Int16)]
    [InlineData(16, SampleFormat.INT, Compression.DEFLATE, false, MrcMode.Int16)]
    [InlineData(32, SampleFormat.IEEEFP, Compression.NONE, false, MrcMode.Float32)]
    [InlineData(32, SampleFormat.IEEEFP, Compression.LZW, true, MrcMode.Float32)]
    public void PagesAreReadBackValueForValue(int bits, SampleFormat format, Compression compression, bool bigEndian, MrcMode mode)
    {
        using var dir = new TempDir();
        string path = dir.File("ts.tif");
        Write(path, bits, format, compression, bigEndian);
        using var reader = MrcReader.Open(path);
        Assert.True(reader.IsTiff);
        Assert.Equal((Nx, Ny, Nz, mode), (reader.Nx, reader.Ny, reader.Nz, reader.Header.Mode));
        Assert.False(reader.Header.HasStatistics);
        if (mode == MrcMode.Int8) Assert.Equal(format == SampleFormat.UINT, reader.Header.Int8Unsigned);
        var all = reader.ReadAll();
        for (int z = 0; z < Nz; z++)
            for (int y = 0; y < Ny; y++)
                for (int x = 0; x < Nx; x++)
                    Assert.Equal((float)Value(bits, format, x, y, z), all[x, y, z]);
        // Rows of a page, and sections across pages, as the streaming readers ask for them.
        var rows = new float[3 * Nx];
        reader.ReadRows(2, 19, 3, rows);
        Assert.Equal((float)Value(bits, format, 5, 20, 2), rows[Nx + 5]);
        var two = new float[2 * Nx * Ny];
        reader.ReadSections(1, 2, two);
        Assert.Equal((float)Value(bits, format, Nx - 1, Ny - 1, 2), two[^1]);
        Assert.Equal((float)Value(bits, format, 0, 0, 1), two[0]);
    }

    /// <summary>A TIFF stack and the MRC of the same values give the same tomogram through `reconstruct` (the command reads it as any stack).</summary>
    [Fact]
    public void ReconstructTakesATiffStackAsItsMrc()
    {
        using var dir = new TempDir();
        Write(dir.File("ts.tif"), 16, SampleFormat.UINT, Compression.LZW);
        using (var r = MrcReader.Open(dir.File("ts.tif"))) MrcWriter.WriteStack(dir.File("ts.mrc"), r.ReadAll());
        ImodText.WriteAngles(dir.File("ts.tlt"), [-45, -15, 15, 45]);
        foreach (var name in new[] { "ts.tif", "ts.mrc" })
        {
            var run = CliRunner.Run("reconstruct", dir.File(name), "--angles", dir.File("ts.tlt"), "--thickness", "8", "--device", "cpu",
                "--out", dir.File(name + ".rec"));
            Assert.True(run.ExitCode == ExitCodes.Ok, run.ToString());
        }
        using var a = MrcReader.Open(dir.File("ts.tif.rec"));
        using var b = MrcReader.Open(dir.File("ts.mrc.rec"));
        Assert.Equal(b.ReadAll().Data, a.ReadAll().Data);
        var info = CliRunner.Run("info", dir.File("ts.tif"));
        Assert.True(info.ExitCode == ExitCodes.Ok, info.ToString());
        Assert.Contains("37 × 23 × 4", info.Out);
        Assert.Contains("TIFF stack ts.tif: 4 pages of 37×23, 16-bit unsigned integers", info.Out);
    }

    public static TheoryData<string, Action<string>, string> Refused => new()
    {
        { "colour", p => Write(p, 8, SampleFormat.UINT, samplesPerPixel: 3), "3 samples per pixel" },
        { "tiled", p => Write(p, 16, SampleFormat.UINT, tiled: true), "tiled" },
        { "int32", p => Write(p, 32, SampleFormat.INT), "32-bit signed integers" },
        { "sizes", p => Write(p, 16, SampleFormat.UINT, size: z => z == 2 ? (Nx + 1, Ny) : (Nx, Ny)), "page 3" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void TiffKindsThatAreNoTiltSeriesAreOneClearInputError(string kind, Action<string> write, string mention)
    {
        using var dir = new TempDir();
        string path = dir.File($"{kind}.tif");
        write(path);
        var e = Assert.Throws<TomalignInputException>(() => MrcReader.Open(path));
        Assert.Contains(mention, e.Message);
        Assert.Contains("tif2mrc", e.Message + e.Fix);
        var r = CliRunner.Run("info", path);
        BadInputTests.AssertCleanFailure(r, $"{kind}.tif", mention, dir, $"{kind}.tif");
    }
}
