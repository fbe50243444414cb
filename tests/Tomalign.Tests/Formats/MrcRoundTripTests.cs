using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Formats;

public class MrcRoundTripTests(ITestOutputHelper output)
{
    private static ImageStack RandomStack(int nx, int ny, int nz, int seed, float offset = 0, float scale = 1)
    {
        var rng = new Random(seed);
        var s = new ImageStack(nx, ny, nz);
        for (int i = 0; i < s.Data.Length; i++) s.Data[i] = offset + scale * (float)(rng.NextDouble() * 2 - 1);
        return s;
    }

    private static MrcWriteOptions Options(byte[] ext) => new()
    {
        PixelSizeAngstrom = 2.17, PixelSizeZ = 3.5,
        OriginX = 10.5f, OriginY = -4.25f, OriginZ = 7,
        Labels = ["first label from the microscope", "second label"],
        ExtendedHeader = ext, ExtendedType = "SERI",
    };

    [Theory]
    [InlineData(MrcMode.Float32)]
    [InlineData(MrcMode.Float16)]
    public void RoundTrip_PreservesPixelsAndHeader(MrcMode mode)
    {
        using var dir = new MrcTempDir();
        string path = dir.File("rt.mrc");
        var stack = RandomStack(37, 23, 5, 42, 3, 50);
        var ext = new byte[3 * 128];
        new Random(7).NextBytes(ext);
        MrcWriter.WriteStack(path, stack, mode, Options(ext));

        using var r = MrcReader.Open(path);
        var h = r.Header;
        Assert.Equal((37, 23, 5, mode), (h.Nx, h.Ny, h.Nz, h.Mode));
        Assert.False(h.BigEndian);
        Assert.Equal(2.17, h.PixelSizeX, 1e-5);
        Assert.Equal(2.17, h.PixelSizeY, 1e-5);
        Assert.Equal(3.5, h.PixelSizeZ, 1e-5);
        Assert.Equal((10.5f, -4.25f, 7f), (h.OriginX, h.OriginY, h.OriginZ));
        Assert.Equal(20141, h.NVersion);
        Assert.Equal("SERI", h.ExtendedType);
        Assert.Equal(ext.Length, h.ExtendedHeaderBytes);
        Assert.Equal(ext, r.ReadExtendedHeader());
        Assert.Equal(3, h.Labels.Count);
        Assert.Equal("first label from the microscope", h.Labels[0]);
        Assert.Equal("second label", h.Labels[1]);
        Assert.StartsWith("Tomalign", h.Labels[2]);
        Assert.Equal(0, r.TrailingBytes);

        var back = r.ReadAll();
        var stats = PixelStatsOf(stack.Data, mode);
        for (int i = 0; i < stack.Data.Length; i++)
        {
            float want = mode == MrcMode.Float16 ? (float)(Half)stack.Data[i] : stack.Data[i];
            Assert.Equal(want, back.Data[i]);
            if (mode == MrcMode.Float16) Assert.True(Math.Abs(back.Data[i] - stack.Data[i]) <= Math.Abs(stack.Data[i]) / 1024 + 1e-6);
        }
        Assert.Equal(stats.min, h.DMin);
        Assert.Equal(stats.max, h.DMax);
        Assert.Equal(stats.mean, h.DMean, 1e-3);
        Assert.Equal(stats.std, h.Rms, 1e-3);

        // Copying the header options into a second file keeps everything.
        string copy = dir.File("copy.mrc");
        MrcWriter.WriteStack(copy, back, mode, r.CopyHeaderOptions());
        using var r2 = MrcReader.Open(copy);
        Assert.Equal(h.PixelSizeX, r2.Header.PixelSizeX, 1e-5);
        Assert.Equal(h.PixelSizeZ, r2.Header.PixelSizeZ, 1e-5);
        Assert.Equal((h.OriginX, h.OriginY, h.OriginZ), (r2.Header.OriginX, r2.Header.OriginY, r2.Header.OriginZ));
        Assert.Equal(ext, r2.ReadExtendedHeader());
        Assert.Equal("SERI", r2.Header.ExtendedType);
        Assert.Equal(h.Labels, r2.Header.Labels.Take(3));
        Assert.Equal(back.Data, r2.ReadAll().Data);
    }

    private static (float min, float max, double mean, double std) PixelStatsOf(float[] data, MrcMode mode)
    {
        var v = data.Select(x => mode == MrcMode.Float16 ? (double)(float)(Half)x : x).ToArray();
        double mean = v.Average();
        return ((float)v.Min(), (float)v.Max(), mean, Math.Sqrt(v.Select(x => (x - mean) * (x - mean)).Average()));
    }

    [Fact]
    public void WriteSections_AnyOrder_RewriteReplacesStatistics()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("order.mrc");
        var stack = RandomStack(16, 8, 6, 3);
        using (var w = MrcWriter.Create(path, 16, 8, 6))
        {
            w.WriteSection(2, new float[16 * 8].Select(_ => 1000f).ToArray());   // overwritten below
            for (int z = 5; z >= 0; z--) w.WriteSection(z, stack.ReadView(z));
            Assert.Equal(6, w.SectionsWritten);
            w.Commit();
        }
        using var r = MrcReader.Open(path);
        var section = new float[16 * 8];
        for (int z = 0; z < 6; z++)
        {
            r.ReadSection(z, section);
            Assert.Equal(stack.ReadView(z).ToArray(), section);
        }
        Assert.Equal(stack.Data.Max(), r.Header.DMax);
        var s = r.ComputeStatistics();
        Assert.Equal(stack.Data.Min(), s.Min);
        Assert.Equal(stack.Data.Max(), s.Max);
        Assert.Equal(stack.Data.Average(x => (double)x), s.Mean, 1e-6);
        Assert.Equal(r.Header.Rms, s.Rms, 1e-4);
        // ReadSections of a middle range
        var two = new float[2 * 16 * 8];
        r.ReadSections(3, 2, two);
        Assert.Equal(stack.Data.AsSpan(3 * 128, 256).ToArray(), two);
    }

    [Fact]
    public void ComputeStatistics_CountsNaNAndInf()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("nan.mrc");
        var stack = new ImageStack(10, 10, 3);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = i % 7;
        stack.Data[5] = float.NaN;
        stack.Data[150] = float.NaN;
        stack.Data[151] = float.NaN;
        stack.Data[42] = float.PositiveInfinity;
        stack.Data[299] = float.NegativeInfinity;
        MrcWriter.WriteStack(path, stack);

        using var r = MrcReader.Open(path);
        var s = r.ComputeStatistics();
        Assert.Equal(3, s.NaNCount);
        Assert.Equal(2, s.InfCount);
        Assert.Equal(295, s.Count);
        Assert.Equal(0, s.Min);
        Assert.Equal(6, s.Max);
        var finite = stack.Data.Where(float.IsFinite).Select(x => (double)x).ToArray();
        Assert.Equal(finite.Average(), s.Mean, 1e-9);
        Assert.False(float.IsNaN(r.Header.DMean));   // header statistics are over finite pixels
        Assert.Equal(6f, r.Header.DMax);
    }

    [Fact]
    public void ReadSection_BeyondFourGigabytes_UsesLongOffsets()
    {
        using var dir = new MrcTempDir();
        string path = dir.File("big.mrc");
        const int nx = 1024, ny = 1024, nz = 1100;                 // 4.6 GB, sparse on disk
        var last = new float[nx * ny];
        var first = new float[nx * ny];
        for (int i = 0; i < last.Length; i++) { last[i] = i % 1000 + 0.5f; first[i] = -(i % 33); }
        using (var w = MrcWriter.Create(path, nx, ny, nz))
        {
            w.WriteSection(nz - 1, last);
            w.WriteSection(0, first);
            w.Commit();
        }
        using var r = MrcReader.Open(path);
        Assert.True(r.Header.DataOffset + (long)(nz - 1) * r.Header.SectionBytes > int.MaxValue * 2L);
        Assert.Equal(1024 + (long)nx * ny * nz * 4, new FileInfo(path).Length);
        var back = new float[nx * ny];
        r.ReadSection(nz - 1, back);
        Assert.Equal(last, back);
        r.ReadSection(600, back);
        Assert.All(back, v => Assert.Equal(0f, v));
        r.ReadSection(0, back);
        Assert.Equal(first, back);
        Assert.Equal(999.5f, r.Header.DMax);
        Assert.Equal(-32f, r.Header.DMin);
    }

    [Theory]
    [InlineData(MrcMode.Float32)]
    [InlineData(MrcMode.Float16)]
    public void Section2048_ReadsAndWritesQuickly(MrcMode mode)
    {
        using var dir = new MrcTempDir();
        string path = dir.File("speed.mrc");
        const int n = 2048;
        var section = new float[n * n];
        for (int i = 0; i < section.Length; i++) section[i] = i % 4093 - 2000;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using (var w = MrcWriter.Create(path, n, n, 2, mode))
        {
            w.WriteSection(0, section);
            w.WriteSection(1, section);
            w.Commit();
        }
        double writeMs = sw.Elapsed.TotalMilliseconds;
        using var r = MrcReader.Open(path);
        var back = new float[n * n];
        r.ReadSection(0, back);          // warm up (page cache, JIT)
        sw.Restart();
        r.ReadSection(1, back);
        double readMs = sw.Elapsed.TotalMilliseconds;
        output.WriteLine($"mode {(int)mode}: write 2 sections {writeMs:F1} ms (incl. create/commit), read one 2048² section {readMs:F2} ms");
        Assert.Equal(mode == MrcMode.Float16 ? section.Select(v => (float)(Half)v).ToArray() : section, back);
        Assert.True(readMs < 1000, $"reading one 2048² section took {readMs} ms");
    }
}
