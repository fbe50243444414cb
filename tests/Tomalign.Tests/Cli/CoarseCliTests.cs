using System.Security.Cryptography;
using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Simulation;
using Tomalign.Tests.Coarse;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Cli;

/// <summary>
/// `tomalign coarse` end to end: on a simulated series it writes .prexf, .prexg and a report whose
/// shifts match the truth, `apply --xf NAME.prexg` takes its output, the inputs stay untouched, and
/// bad input ends in one error line with nothing written.
/// </summary>
public sealed class CoarseCliTests
{
    private readonly ITestOutputHelper _output;
    public CoarseCliTests(ITestOutputHelper output) => _output = output;

    private static SimulatedSeries Simulate(int n, double step, int seed) =>
        new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(n) with
        {
            TiltMin = -60, TiltMax = 60, TiltStep = step, TiltAxisDegrees = 85, ShiftWalkSigmaPixels = 4, Seed = seed,
        }, null);

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public void CoarseWritesPrexfPrexgAndReportThenApplyTakesThePrexg()
    {
        using var dir = new TempDir();
        var sim = Simulate(256, 4, seed: 3);
        var files = SimulationFiles.Write(sim, dir.Path, "s", 2.0);
        string stackHash = Hash(files.Stack), anglesHash = Hash(files.RawTilt);
        string outDir = dir.File("coarse");

        var r = CliRunner.Run("coarse", files.Stack, "--angles", files.RawTilt, "--tilt-axis", "85", "--out", outDir, "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Equal(new[] { "s.coarse.json", "s.prexf", "s.prexg" }, Directory.GetFiles(outDir).Select(Path.GetFileName).OrderBy(f => f));
        Assert.Equal(stackHash, Hash(files.Stack));          // inputs are only read
        Assert.Equal(anglesHash, Hash(files.RawTilt));

        int nz = sim.Raw.Nz;
        var prexf = ImodText.ReadXf(Path.Combine(outDir, "s.prexf"));
        var prexg = ImodText.ReadXf(Path.Combine(outDir, "s.prexg"));
        Assert.Equal(nz, prexf.Length);
        Assert.Equal(nz, prexg.Length);
        Assert.Equal(Xf.Identity, prexf[0]);
        Assert.Equal(Xf.Identity, prexg[sim.ReferenceView]);
        // The files hold the prealignment of the truth: within 1 px RMS after offset and a·sin θ.
        double rms = CoarseAccuracyTests.ResidualRms(sim, prexg, out double raw);
        _output.WriteLine($"coarse CLI on 256²×{nz}: {raw:F2} px RMS raw, {rms:F3} px after removing offset and a·sin θ");
        Assert.True(rms < 1.0, $"coarse via the CLI: {rms:F3} px RMS after the fit (limit 1.0 px)");

        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "s.coarse.json"))))
        {
            var root = doc.RootElement;
            Assert.Equal("coarse", root.GetProperty("command").GetString());
            var results = root.GetProperty("results");
            Assert.Equal(sim.ReferenceView, results.GetProperty("referenceView").GetInt32());
            var pairs = results.GetProperty("pairs").EnumerateArray().ToArray();
            Assert.Equal(nz - 1, pairs.Length);
            Assert.All(pairs, pair =>
            {
                double strength = pair.GetProperty("peakStrength").GetDouble();
                Assert.True(strength > 0 && strength <= 1.0001, $"peak strength {strength}");
            });
            Assert.Equal(Enumerable.Range(1, nz - 1), pairs.Select(pair => pair.GetProperty("view").GetInt32()));
            Assert.Contains(root.GetProperty("outputs").EnumerateArray(), o => o.GetString()!.EndsWith("s.prexg"));
            Assert.Contains(root.GetProperty("stages").EnumerateArray(), s => s.GetProperty("name").GetString() == "coarse");
        }

        string ali = Path.Combine(outDir, "s.preali");
        r = CliRunner.Run("apply", files.Stack, "--xf", Path.Combine(outDir, "s.prexg"), "--out", ali, "--device", "cpu");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var reader = MrcReader.Open(ali);
        Assert.Equal((sim.Raw.Nx, sim.Raw.Ny, nz), (reader.Nx, reader.Ny, reader.Nz));
        // The reference view's line is the identity: apply leaves that view as it was.
        var view = new float[sim.Raw.ViewLength];
        reader.ReadSection(sim.ReferenceView, view);
        var original = sim.Raw.ReadView(sim.ReferenceView);
        double worst = 0;
        for (int i = 0; i < view.Length; i++) worst = Math.Max(worst, Math.Abs(view[i] - original[i]));
        Assert.True(worst < 1e-4, $"reference view changed by {worst}");
    }

    /// <summary>The ILGPU path (here ILGPU's CPU emulator, through the backend's FallbackPairCorrelator) gives the same .prexg.</summary>
    [Fact]
    public void IlgpuDeviceGivesTheSamePrexgAsTheCpuPath()
    {
        using var dir = new TempDir();
        var sim = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(64) with
        {
            TiltMin = -12, TiltMax = 12, TiltStep = 6, ShiftWalkSigmaPixels = 2, Seed = 4,
        }, null);
        var files = SimulationFiles.Write(sim, dir.Path, "t", 2.0);
        Xf[] Run(string device)
        {
            var r = CliRunner.Run("coarse", files.Stack, "--angles", files.RawTilt, "--tilt-axis", "85", "--out", dir.File(device), "--device", device);
            Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
            Assert.DoesNotContain("using the CPU path", r.Err);
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File(device), "t.coarse.json")));
            Assert.StartsWith(device == "cpu" ? "managed CPU path" : device + ":", doc.RootElement.GetProperty("device").GetString());
            return ImodText.ReadXf(Path.Combine(dir.File(device), "t.prexg"));
        }
        var cpu = Run("cpu");
        var ilgpu = Run("ilgpu-cpu");
        Assert.Equal(cpu.Length, ilgpu.Length);
        Assert.Contains(cpu, g => Math.Abs(g.Dx) + Math.Abs(g.Dy) > 0.5);   // something to agree on
        for (int i = 0; i < cpu.Length; i++)
            Assert.True(Math.Abs(cpu[i].Dx - ilgpu[i].Dx) < 0.02 && Math.Abs(cpu[i].Dy - ilgpu[i].Dy) < 0.02,
                $"view {i}: cpu ({cpu[i].Dx:F3}, {cpu[i].Dy:F3}) ilgpu-cpu ({ilgpu[i].Dx:F3}, {ilgpu[i].Dy:F3})");
    }

    /// <summary>A small good series on disk: NAME.mrc and NAME.rawtlt.</summary>
    private static (string Stack, string Angles) SmallSeries(TempDir dir)
    {
        var sim = new TiltSeriesSimulator().Simulate(SimulationOptions.ForSize(48) with { TiltMin = -6, TiltMax = 6, TiltStep = 3, Seed = 2 }, null);
        string stack = dir.File("in.mrc"), angles = dir.File("in.rawtlt");
        MrcWriter.WriteStack(stack, sim.Raw);
        ImodText.WriteAngles(angles, sim.NominalTilts);
        return (stack, angles);
    }

    [Fact]
    public void AngleCountNotMatchingViewsIsOneErrorAndWritesNothing()
    {
        using var dir = new TempDir();
        var (stack, angles) = SmallSeries(dir);
        ImodText.WriteAngles(angles, [-6.0, -3.0, 0.0, 3.0]);     // 4 angles, 5 views
        var r = CliRunner.Run("coarse", stack, "--angles", angles, "--tilt-axis", "85", "--out", dir.File("out"), "--device", "cpu");
        BadInputTests.AssertCleanFailure(r, "in.rawtlt", "4 angles", dir, "in.mrc", "in.rawtlt");
        Assert.Contains("5 views", r.Err);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Fact]
    public void NaNViewIsOneErrorAndWritesNothing()
    {
        using var dir = new TempDir();
        var (stack, angles) = SmallSeries(dir);
        using (var reader = MrcReader.Open(stack))
        {
            var data = reader.ReadAll();
            data.View(3).Fill(float.NaN);
            MrcWriter.WriteStack(stack, data);
        }
        string before = Hash(stack);
        var r = CliRunner.Run("coarse", stack, "--angles", angles, "--tilt-axis", "85", "--out", dir.File("out"), "--device", "cpu");
        BadInputTests.AssertCleanFailure(r, "in.mrc", "view 3", dir, "in.mrc", "in.rawtlt");
        Assert.Contains("NaN", r.Err);
        Assert.False(Directory.Exists(dir.File("out")));
        Assert.Equal(before, Hash(stack));
    }

    [Fact]
    public void ImpossibleBinningIsAnInputError()
    {
        using var dir = new TempDir();
        var (stack, angles) = SmallSeries(dir);
        var r = CliRunner.Run("coarse", stack, "--angles", angles, "--tilt-axis", "85", "--bin", "8", "--out", dir.File("out"), "--device", "cpu");
        BadInputTests.AssertCleanFailure(r, "in.mrc", "too small", dir, "in.mrc", "in.rawtlt");
    }
}
