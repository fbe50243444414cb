using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core;
using Tomalign.Core.Backend;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Gpu;
using Tomalign.Tests.Cli;
using Xunit;

namespace Tomalign.Tests.Backend;

/// <summary>--gpu-memory: a ceiling on the device memory the GPU backends plan with, checked on ILGPU's CPU accelerator.</summary>
public sealed class GpuMemoryLimitTests
{
    [Theory]
    [InlineData("16G", 16L << 30)]
    [InlineData("512M", 512L << 20)]
    [InlineData("1.5g", 3L << 29)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("64KB", 64L << 10)]
    [InlineData("4096", 4096L)]
    public void ParsesMemorySizes(string text, long bytes) => Assert.Equal(bytes, CliApp.ParseMemorySize(text));

    [Theory]
    [InlineData("lots")]
    [InlineData("-1G")]
    [InlineData("0")]
    [InlineData("G")]
    public void RefusesOtherSizesNamingTheOption(string text)
    {
        var e = Assert.Throws<TomalignInputException>(() => CliApp.ParseMemorySize(text));
        Assert.Contains("--gpu-memory", e.Message);
    }

    [Fact]
    public void NoSizeMeansNoLimit() => Assert.Null(CliApp.ParseMemorySize(null));

    [Fact]
    public void AWarpUnderALimitGoesInMoreChunksWithTheSameResult()
    {
        const int n = 48, nz = 6;
        var rng = new Random(4);
        var data = Enumerable.Range(0, n * n * nz).Select(_ => (float)rng.NextDouble()).ToArray();
        var xfs = Enumerable.Range(0, nz).Select(i => Xf.RotationScale(3 * i, 1 + 0.01 * i, 0.5 * i, -0.25 * i)).ToArray();
        var fill = new float[nz];
        using var whole = GpuBackend.CreateIlgpuCpu();
        using var limited = GpuBackend.CreateIlgpuCpu(memoryLimitBytes: 64 << 10);
        Assert.Equal(64 << 10, limited.MemoryBytes);
        Assert.Equal(32 << 10, limited.WorkingMemoryBytes);
        Assert.Contains("limited to", limited.Description);
        var a = new float[data.Length];
        var b = new float[data.Length];
        Array.Fill(b, float.NaN);
        whole.Warper.Warp(data, n, n, nz, xfs, fill, new WarpOptions(1, Interpolation.Linear), a);
        limited.Warper.Warp(data, n, n, nz, xfs, fill, new WarpOptions(1, Interpolation.Linear), b);
        Assert.Equal(nz, whole.DeviceWarper.LastViewsPerChunk);
        Assert.True(limited.DeviceWarper.LastViewsPerChunk < nz, $"{limited.DeviceWarper.LastViewsPerChunk} views per chunk under 64 KiB");
        Assert.Equal(a, b);
    }

    [Fact]
    public void AReconstructionUnderALimitUsesMoreSlabsAndGivesTheSameVolume()
    {
        using var dir = new TempDir();
        var rng = new Random(6);
        var stack = new ImageStack(32, 24, 5);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = (float)rng.NextDouble();
        MrcWriter.WriteStack(dir.File("a.ali"), stack);
        ImodText.WriteAngles(dir.File("a.tlt"), [-40, -20, 0, 20, 40]);
        var r = CliRunner.Run("reconstruct", dir.File("a.ali"), "--angles", dir.File("a.tlt"), "--thickness", "12", "--device", "ilgpu-cpu", "--out", dir.File("a.rec"), "-q");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("reconstruct", dir.File("a.ali"), "--angles", dir.File("a.tlt"), "--thickness", "12", "--device", "ilgpu-cpu", "--gpu-memory", "16K", "--out", dir.File("b.rec"), "-q");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        int Slabs(string report) => JsonDocument.Parse(File.ReadAllText(dir.File(report))).RootElement.GetProperty("results").GetProperty("slabs").GetInt32();
        Assert.Equal(1, Slabs("a.reconstruct.json"));
        Assert.True(Slabs("b.reconstruct.json") > 1, $"{Slabs("b.reconstruct.json")} slab(s) under 16 KiB");
        Assert.True(Commands.RelativeRmsDifference(dir.File("b.rec"), dir.File("a.rec")) < 1e-6);
        // A bad size is one clear error.
        r = CliRunner.Run("reconstruct", dir.File("a.ali"), "--angles", dir.File("a.tlt"), "--thickness", "12", "--device", "cpu", "--gpu-memory", "lots", "--out", dir.File("c.rec"));
        Assert.Equal(ExitCodes.InputError, r.ExitCode);
        Assert.Contains("--gpu-memory", r.Err);
        Assert.False(File.Exists(dir.File("c.rec")));
    }
}
