using System.Diagnostics;
using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core.Backend;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Reconstruction;
using Tomalign.Cpu;
using Xunit;

namespace Tomalign.Tests.Cli;

/// <summary>
/// Issue 15's defects of the command line: usage errors are one short message and exit 2; an interruption stops every
/// command at its next check with exit 130 and no partial output; checks that can be made before the long work are.
/// </summary>
public sealed class UsageAndInterruptTests
{
    private static CliRunner.Outcome Run(CancellationToken cancel, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CliApp.Run(args, o, e, cancel);
        return new CliRunner.Outcome(code, o.ToString(), e.ToString());
    }

    /// <summary>
    /// A token cancelled after <paramref name="ms"/> by a thread of its own, as Ctrl-C comes from the signal handler's thread
    /// (a timer's callback waits for a thread-pool thread, which the tests running beside can keep busy for minutes).
    /// </summary>
    internal static CancellationTokenSource CancelAfter(int ms)
    {
        var cts = new CancellationTokenSource();
        new Thread(() => { Thread.Sleep(ms); cts.Cancel(); }) { IsBackground = true }.Start();
        return cts;
    }

    /// <summary>A usage error: exit 2, "error: ..." lines and one usage line, never the whole help.</summary>
    private static void AssertUsageError(CliRunner.Outcome r, params string[] mustSay)
    {
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.DoesNotContain("Description:", r.Err);          // System.CommandLine's help
        Assert.DoesNotContain("Options:", r.Err);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length <= 4, "more than a short message\n" + r);
        Assert.StartsWith("usage: tomalign", lines[^1]);
        Assert.Contains("--help", lines[^1]);
        foreach (var s in mustSay) Assert.Contains(s, r.Err);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void AValueOfTheWrongKindNamesTheOptionAndWhatItExpects()
    {
        var r = CliRunner.Run("reconstruct", "a.ali", "--angles", "a.tlt", "--thickness", "abc", "--out", "a.rec");
        AssertUsageError(r, "error: --thickness expects a whole number, got 'abc'", "usage: tomalign reconstruct ALIGNED");
        Assert.DoesNotContain("System.Int32", r.Err);
        r = CliRunner.Run("simulate", "--out", "x", "--tilt-step", "three");
        AssertUsageError(r, "--tilt-step expects a number, got 'three'");
    }

    [Fact]
    public void UnknownOptionsMissingOptionsAndNoCommandAreUsageErrors()
    {
        AssertUsageError(CliRunner.Run("info", "x.mrc", "--bogus"), "unknown option '--bogus'", "see tomalign info --help");
        // --angles and --tilt-axis are optional since the angles and the axis may come from an mdoc or the MRC header (issue 18).
        AssertUsageError(CliRunner.Run("align", "x.mrc"), "missing --out (required)");
        AssertUsageError(CliRunner.Run("info"), "missing FILE (required)");
        AssertUsageError(CliRunner.Run(), "no command given", "simulate", "reconstruct");
        AssertUsageError(CliRunner.Run("reconstrut"), "unexpected argument 'reconstrut'");
        // Help is still help (exit 0).
        var help = CliRunner.Run("reconstruct", "--help");
        Assert.True(help.ExitCode == ExitCodes.Ok, help.ToString());
        Assert.Contains("--thickness", help.Out);
    }

    [Fact]
    public void TrackAndSolveAssumeNoTiltAxis()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("track", dir.File("x.mrc"), "--angles", dir.File("x.rawtlt"), "--bead-diameter", "6", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("--tilt-axis", r.Err);
        Assert.Contains("Fix:", r.Err);
        r = CliRunner.Run("solve", "--model", dir.File("x.fid"), "--angles", dir.File("x.rawtlt"), "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("solve needs --tilt-axis", r.Err);
        Assert.Empty(dir.Files());
    }

    /// <summary>An aligned stack for a reconstruction that takes long: one slab of SIRT with many iterations.</summary>
    private static (string Ali, string Tlt) LongSirtInputs(TempDir dir)
    {
        var tilts = Enumerable.Range(0, 41).Select(i => -60.0 + 3 * i).ToArray();
        var rng = new Random(3);
        var stack = new ImageStack(96, 16, tilts.Length);
        for (int i = 0; i < stack.Data.Length; i++) stack.Data[i] = (float)rng.NextDouble();
        MrcWriter.WriteStack(dir.File("a.ali"), stack);
        ImodText.WriteAngles(dir.File("a.tlt"), tilts);
        return (dir.File("a.ali"), dir.File("a.tlt"));
    }

    /// <summary>
    /// Ctrl-C during `reconstruct` (here: the interruption token cancelled after half a second) stops a one-slab SIRT at its
    /// next iteration: exit 130, no tomogram, no temporary file. (It ran to the end with exit 0: the token was checked only
    /// between slabs.)
    /// </summary>
    [Fact]
    public void AnInterruptedReconstructionExits130AndLeavesNothing()
    {
        using var dir = new TempDir();
        var (ali, tlt) = LongSirtInputs(dir);
        using var cts = CancelAfter(500);
        var clock = Stopwatch.StartNew();
        var r = Run(cts.Token, "reconstruct", ali, "--angles", tlt, "--thickness", "64", "--method", "sirt", "--iterations", "20000",
            "--device", "cpu", "--out", dir.File("a.rec"));
        Assert.True(r.ExitCode == ExitCodes.Cancelled, r.ToString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed.TotalSeconds:F1} s to stop");
        Assert.Contains("cancelled", r.Err);
        Assert.Equal(["a.ali", "a.tlt"], dir.Files().OrderBy(f => f));
    }

    /// <summary>A one-slab SIRT reports progress after every iteration (it showed nothing until the end), never going back.</summary>
    [Fact]
    public void AOneSlabSirtReportsProgressEveryIteration()
    {
        using var dir = new TempDir();
        var (ali, _) = LongSirtInputs(dir);
        var tilts = ImodText.ReadAngles(dir.File("a.tlt"));
        var reports = new List<double>();
        var progress = new Recorder(reports);
        var summary = new Reconstructor(new CpuBackend()).Run(ali, tilts, dir.File("a.rec"),
            new ReconstructionOptions { Thickness = 16, Method = ReconstructionMethod.Sirt, Iterations = 12 }, progress);
        Assert.Equal(1, summary.Slabs);
        Assert.True(reports.Count >= 12, $"{reports.Count} progress reports for 12 iterations: {string.Join(", ", reports)}");
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.Second >= p.First), string.Join(", ", reports));
        Assert.Equal(1.0, reports[^1]);
        Assert.True(reports[0] < 0.2, $"first report {reports[0]}");
    }

    private sealed class Recorder(List<double> values) : IProgress<double>
    {
        public void Report(double value) => values.Add(value);
    }

    /// <summary>
    /// Ctrl-C during `align` stops it in whichever stage runs (every backend call and progress report checks): exit 130,
    /// and the solve's outputs are not written. (It ran to the end: only the read checked the interruption.)
    /// </summary>
    [Fact]
    public void AnInterruptedAlignmentExits130BeforeTheSolve()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", "256", "--seed", "8", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        using var cts = CancelAfter(1500);
        r = Run(cts.Token, "align", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "auto", "--markerless",
            "--device", "cpu", "--out", dir.File("out"));
        Assert.True(r.ExitCode == ExitCodes.Cancelled, r.ToString());
        Assert.False(File.Exists(Path.Combine(dir.File("out"), "sim.xf")), "the solve was written after the interruption");
        Assert.Empty(Directory.GetFiles(dir.File("out"), "*tmp*"));
    }

    [Fact]
    public void ACancellableBackendChecksBeforeEveryCall()
    {
        using var cts = new CancellationTokenSource();
        using var cpu = new CpuBackend();
        var backend = CancellableBackend.Wrap(cpu, cts.Token, ownsInner: false);
        Assert.Same(cpu, CancellableBackend.Wrap(cpu, CancellationToken.None));   // nothing to check: the backend itself
        Assert.Equal(cpu.Description, backend.Description);
        Assert.Equal(((IComputeBackend)cpu).WorkingMemoryBytes, backend.WorkingMemoryBytes);
        var views = new float[16 * 16 * 2];
        for (int i = 0; i < views.Length; i++) views[i] = (i * 37 % 11) / 11f;
        var output = new float[views.Length];
        var template = new float[9];
        template[4] = 1;
        backend.TemplateCorrelator.Correlate(views, 16, 16, 2, template, 3, output);   // passes through while not cancelled
        var direct = new float[views.Length];
        cpu.TemplateCorrelator.Correlate(views, 16, 16, 2, template, 3, direct);
        Assert.Equal(direct, output);
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => backend.TemplateCorrelator.Correlate(views, 16, 16, 2, template, 3, output));
        Assert.Throws<OperationCanceledException>(() => backend.Warper.Warp(views, 16, 16, 2, [Xf.Identity, Xf.Identity], [0f, 0f], new WarpOptions(), output));
        Assert.Throws<OperationCanceledException>(() => backend.Fft.Forward(new float[16 * 16], 16, 16, 1, new float[2 * 9 * 16]));
        Assert.Throws<OperationCanceledException>(() => backend.Backprojector.Backproject(new float[16], [1f], [0f], [1f], new SlabGeometry(16, 1, 1, 4, 0), new float[64]));
        Assert.Throws<OperationCanceledException>(() => backend.PairCorrelator.Correlate(views, 16, 16, 2, new ViewStatistics[2], [], null!));
    }

    /// <summary>`run --bin 300` on 128² views is refused before any work (it was refused after the whole alignment).</summary>
    [Fact]
    public void RunRefusesABinningTooLargeBeforeAligning()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", "128", "--tilt-step", "10", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        string outDir = dir.File("out");
        var clock = Stopwatch.StartNew();
        r = CliRunner.Run("run", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--bead-diameter", "6",
            "--thickness", "40", "--bin", "300", "--device", "cpu", "--out", outDir);
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("binning 300", r.Err);
        Assert.Contains("--bin", r.Err);
        Assert.False(File.Exists(Path.Combine(outDir, "sim.prexg")), "the alignment ran before the binning was checked");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{clock.Elapsed.TotalSeconds:F1} s");

        // An output folder that cannot be made (a file holds its name) is refused before the work too.
        File.WriteAllText(dir.File("taken"), "");
        r = CliRunner.Run("align", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--bead-diameter", "6",
            "--device", "cpu", "--out", dir.File("taken"));
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("taken", r.Err);
        Assert.Contains("folder", r.Err);

        // Views too small for patches (80²): refused before the coarse stage (it ran first, then the patch tracker's error was taken for bad input).
        r = CliRunner.Run("simulate", "--out", dir.Path, "--name", "small", "--size", "80", "--tilt-step", "10", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("align", dir.File("small.mrc"), "--angles", dir.File("small.rawtlt"), "--tilt-axis", "85", "--markerless",
            "--device", "cpu", "--out", dir.File("small"));
        Assert.True(r.ExitCode == ExitCodes.InputError, r.ToString());
        Assert.Contains("150 pixels", r.Err);
        Assert.False(File.Exists(Path.Combine(dir.File("small"), "small.prexg")));
    }

    /// <summary>A TIFF given as the stack is named as one, with the conversion (it was "unsupported MRC mode 65540").</summary>
    [Theory]
    [InlineData(new byte[] { 0x49, 0x49, 0x2A, 0x00 }, "TIFF")]
    [InlineData(new byte[] { 0x4D, 0x4D, 0x00, 0x2A }, "TIFF")]
    [InlineData(new byte[] { 0x1F, 0x8B, 0x08, 0x00 }, "gzip")]
    public void OtherFormatsAreNamed(byte[] magic, string what)
    {
        using var dir = new TempDir();
        var bytes = new byte[4096];
        new Random(2).NextBytes(bytes);
        magic.CopyTo(bytes, 0);
        bytes[4] = 8; bytes[5] = 0; bytes[6] = 0; bytes[7] = 0;
        File.WriteAllBytes(dir.File("frames.tif"), bytes);
        var r = CliRunner.Run("info", dir.File("frames.tif"));
        BadInputTests.AssertCleanFailure(r, "frames.tif", what, dir, "frames.tif");
        Assert.DoesNotContain("mode", r.Err);
        if (what == "TIFF") Assert.Contains("tif2mrc frames.tif frames.mrc", r.Err);
    }

    /// <summary>
    /// `simulate` keeps its truth under names `align` does not write (NAME.truth.xf, NAME.truth.tlt): aligning into the
    /// simulation's folder, as IMOD users name their alignment NAME.xf and NAME.tlt, no longer overwrites the truth.
    /// </summary>
    [Fact]
    public void TheSimulatedTruthDoesNotTakeTheAlignmentsNames()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", "96", "--tilt-step", "20", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.True(File.Exists(dir.File("sim.truth.xf")) && File.Exists(dir.File("sim.truth.tlt")), string.Join(", ", dir.Files()));
        Assert.False(File.Exists(dir.File("sim.xf")), "the truth took align's NAME.xf");
        Assert.False(File.Exists(dir.File("sim.tlt")), "the truth took align's NAME.tlt");
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("sim.simulate.json")));
        Assert.Contains(doc.RootElement.GetProperty("outputs").EnumerateArray(), o => o.GetString()!.EndsWith("sim.truth.xf"));
    }

    /// <summary>`--tilt-axis auto` shows one progress line, not the coarse stage's log line for every angle it tries.</summary>
    [Fact]
    public void TheTiltAxisSearchShowsProgressNotTwentyLogLines()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", "128", "--tilt-step", "4", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        r = CliRunner.Run("coarse", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "auto", "--device", "cpu", "--out", dir.Path);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int coarseLines = lines.Count(l => l.StartsWith("info: coarse:"));
        Assert.True(coarseLines <= 1, $"{coarseLines} coarse log lines\n{r.Err}");
        Assert.Contains(lines, l => l.StartsWith("tilt axis: ") && l.EndsWith('%'));
        Assert.Contains(lines, l => l == "tilt axis: 100%");
        Assert.Contains(lines, l => l.StartsWith("info: tilt axis:") && l.Contains("found by the coarse correlation"));
    }

    [Fact]
    public void TheEmulatorIsNotDescribedWithAnAbsurdMemory()
    {
        string d = Tomalign.Gpu.GpuBackend.Describe(ILGPU.Runtime.AcceleratorType.CPU, "CPUAccelerator", long.MaxValue, long.MaxValue, 4, 16);
        Assert.DoesNotContain("8589934592", d);
        Assert.Contains("host memory", d);
        double gib = double.Parse(System.Text.RegularExpressions.Regex.Match(d, @"host memory ([0-9.]+) GiB").Groups[1].Value,
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(gib, 0.1, 1 << 16);
        string cuda = Tomalign.Gpu.GpuBackend.Describe(ILGPU.Runtime.AcceleratorType.Cuda, "H200", 150L << 30, 16L << 30, 132, 2048);
        Assert.Contains("150.0 GiB (limited to 16.00 GiB)", cuda);
    }
}
