using System.Text.Json;
using Tomalign.Cli;
using Tomalign.Core;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Patches;
using Tomalign.Core.Reconstruction;
using Tomalign.Cpu;
using Tomalign.Gpu;
using Tomalign.Gpu.Fft;
using Tomalign.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Backend;

/// <summary>
/// Device-memory accounting on ILGPU's CPU accelerator: the meter's counts, each component holding exactly
/// what its plan (<see cref="DeviceMemoryPlan"/>) says, and a whole run under --gpu-memory staying under it.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class DeviceMemoryTests(IlgpuCpuFixture fixture, ITestOutputHelper output)
{
    private ILGPU.Runtime.Accelerator Accelerator => fixture.Backend.Accelerator;

    private static float[] Random(int length, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)rng.NextDouble()).ToArray();
    }

    [Fact]
    public void MeterCountsCurrentAndPeakReleasesOnDisposeAndRefusesPastItsLimit()
    {
        var meter = new DeviceMemoryMeter(Accelerator, limitBytes: 4096);
        var a = meter.Allocate1D<float>(100);
        var b = meter.Allocate1D<double>(50);
        Assert.Equal(800, meter.CurrentBytes);
        b.Dispose();
        b.Dispose();   // twice: counted once
        Assert.Equal(400, meter.CurrentBytes);
        Assert.Equal(800, meter.PeakBytes);
        meter.ResetWindow();
        Assert.Equal(400, meter.WindowPeakBytes);
        var e = Assert.Throws<DeviceMemoryLimitException>(() => meter.Allocate1D<float>(1000));
        Assert.Contains("--gpu-memory", e.Message);
        Assert.Equal(400, meter.CurrentBytes);   // refused before allocating
        using (meter.Reserve(1000, "a work area")) Assert.Equal(1400, meter.CurrentBytes);
        Assert.Equal(1400, meter.WindowPeakBytes);
        a.Dispose();
        Assert.Equal(0, meter.CurrentBytes);

        // Concurrent allocations: the count returns to zero and never crossed the limit.
        var shared = new DeviceMemoryMeter(Accelerator, limitBytes: 64 * 256);
        int refused = 0;
        Parallel.For(0, 200, i =>
        {
            try { using var buf = shared.Allocate1D<float>(256); }
            catch (DeviceMemoryLimitException) { Interlocked.Increment(ref refused); }
        });
        Assert.Equal(0, shared.CurrentBytes);
        Assert.InRange(shared.PeakBytes, 1024, 64 * 256);
        Assert.Equal(0, refused);   // at most 16 KiB/1 KiB = 16 at once with 2 cores; the limit has room for 16
    }

    [Fact]
    public void WarpHoldsExactlyItsPlanAndChunksUnderALimitWithTheSameResult()
    {
        const int nx = 40, ny = 36, nz = 7;
        var source = Random(nx * ny * nz, 31);
        var xfs = Enumerable.Range(0, nz).Select(i => Xf.RotationScale(4 * i, 1 + 0.01 * i, 0.7 * i, -0.3 * i)).ToArray();
        var fill = Enumerable.Range(0, nz).Select(i => (float)i).ToArray();
        var options = new WarpOptions(2, Interpolation.Cubic);
        var whole = new float[nx / 2 * (ny / 2) * nz];
        fixture.Backend.DeviceWarper.Warp(source, nx, ny, nz, xfs, fill, options, whole);

        long limit = 3 * 4L * (nx * ny + nx / 2 * (ny / 2) + 7) * 2;   // three views in the working half
        var meter = new DeviceMemoryMeter(Accelerator);
        var warper = new GpuStackWarper(Accelerator, meter) { MemoryBudgetOverride = limit };
        var chunked = new float[whole.Length];
        Array.Fill(chunked, float.NaN);
        warper.Warp(source, nx, ny, nz, xfs, fill, options, chunked);
        var plan = DeviceMemoryPlan.Warp(nx, ny, nz, nx / 2, ny / 2, limit);
        Assert.Equal(3, plan.PerChunk);
        Assert.Equal(3, warper.LastViewsPerChunk);
        Assert.Equal(plan.Bytes, meter.PeakBytes);
        Assert.True(meter.PeakBytes <= DeviceMemoryPlan.Budget(limit), $"{meter.PeakBytes} > {DeviceMemoryPlan.Budget(limit)}");
        Assert.Equal(0, meter.CurrentBytes);
        Assert.Equal(whole, chunked);
    }

    [Fact]
    public void PairCorrelationHoldsExactlyItsPlanAndChunksUnderALimitWithTheSameResult()
    {
        const int n = 48, nz = 5;
        var views = Random(n * n * nz, 41);
        var pairs = Enumerable.Range(1, nz - 1).Select(k => new CorrelationPair(k - 1, k, Xf.Identity)).ToArray();
        var settings = new CorrelationSettings(54, 50, 4, new BandPassFilter(0.03, 0.25, 0.05), 0, false, 20);
        var stats = ViewStatisticsCalculator.Compute(views, n, n, nz);
        var whole = fixture.Backend.DevicePairCorrelator.Correlate(views, n, n, nz, stats, pairs, settings);

        // Room for two pairs in the working half of the limit.
        long limit = 2 * DeviceMemoryPlan.PairCorrelation(views.Length, n, n, 54, 50, 2, long.MaxValue / 4).Bytes;
        var plan = DeviceMemoryPlan.PairCorrelation(views.Length, n, n, 54, 50, pairs.Length, limit);
        Assert.Equal(2, plan.PerChunk);
        var meter = new DeviceMemoryMeter(Accelerator);
        var correlator = new GpuPairCorrelator(Accelerator, new StockhamDeviceFft(meter), meter) { MemoryBudgetOverride = limit };
        var chunked = correlator.Correlate(views, n, n, nz, stats, pairs, settings);
        Assert.Equal(plan.PerChunk, correlator.LastPairsPerChunk);
        Assert.Equal(plan.Bytes, meter.PeakBytes);
        Assert.True(plan.Fits && meter.PeakBytes <= DeviceMemoryPlan.Budget(limit));
        Assert.Equal(DeviceMemoryPlan.StockhamTwiddleBytes(54, 50), meter.CurrentBytes);   // only the twiddle tables stay
        Assert.Equal(whole, chunked);
    }

    [Fact]
    public void TemplateCorrelationHostFftAndSlabsHoldExactlyTheirPlans()
    {
        // Template correlation, chunked.
        const int nx = 30, ny = 26, nz = 5, size = 5;
        var views = Random(nx * ny * nz, 51);
        var template = Random(size * size, 52);
        long limit = 2 * (4L * size * size + 2 * 2 * 4L * nx * ny);
        var meter = new DeviceMemoryMeter(Accelerator);
        var a = new float[views.Length];
        var b = new float[views.Length];
        fixture.Backend.TemplateCorrelator.Correlate(views, nx, ny, nz, template, size, a);
        new GpuTemplateCorrelator(Accelerator, meter) { MemoryBudgetOverride = limit }.Correlate(views, nx, ny, nz, template, size, b);
        var plan = DeviceMemoryPlan.TemplateCorrelation(nx, ny, nz, size, limit);
        Assert.Equal(2, plan.PerChunk);
        Assert.Equal(plan.Bytes, meter.PeakBytes);
        Assert.Equal(a, b);

        // The FFT on host buffers: buffers, work and twiddles; the work kept for the next call until released.
        meter = new DeviceMemoryMeter(Accelerator);
        var fft = new GpuFft2D(Accelerator, null, meter);
        var real = Random(64 * 3 * 2, 53);
        var spectrum = new float[Fft2DArguments.SpectrumLength(64, 3, 2)];
        fft.Forward(real, 64, 3, 2, spectrum);
        Assert.Equal(DeviceMemoryPlan.HostFft(64, 3, 2), meter.PeakBytes);
        Assert.Equal(fft.DeviceBytes(64, 3, 2), meter.PeakBytes);
        fft.Inverse(spectrum, 64, 3, 2, real);
        Assert.Equal(DeviceMemoryPlan.HostFft(64, 3, 2), meter.PeakBytes);
        Assert.Equal(DeviceMemoryPlan.StockhamTwiddleBytes(64, 3) + DeviceMemoryPlan.StockhamWorkBytes(64, 3, 2), meter.CurrentBytes);
        fft.Device.ReleaseWork();
        Assert.Equal(DeviceMemoryPlan.StockhamTwiddleBytes(64, 3), meter.CurrentBytes);

        // A slab backprojected and projected.
        meter = new DeviceMemoryMeter(Accelerator);
        var bp = new GpuBackprojector(Accelerator, meter);
        var g = new SlabGeometry(24, 3, 4, 10, 0, 3, 1, 0, 0, 0);
        var cos = new float[] { 1, 0.9f, 0.8f, 0.7f };
        var sin = cos.Select(c => MathF.Sqrt(1 - c * c)).ToArray();
        var slab = new float[g.SlabLength];
        bp.Backproject(Random((int)g.ProjectionLength, 54), cos, sin, [1, 1, 1, 1], g, slab);
        Assert.Equal(DeviceMemoryPlan.Backproject(g), meter.PeakBytes);
        meter.ResetWindow();
        bp.Project(slab, cos, sin, g, new float[g.ProjectionLength]);
        Assert.Equal(DeviceMemoryPlan.Project(g), meter.WindowPeakBytes);
        Assert.Equal(0, meter.CurrentBytes);

        // WBP with the row filter on the device, its lines in batches that the budget allows.
        meter = new DeviceMemoryMeter(Accelerator);
        bp = new GpuBackprojector(Accelerator, meter);
        const int pad = 64;
        var filter = Random(pad / 2 + 1, 56);
        var projections = Random((int)g.ProjectionLength, 57);
        long fbLimit = 2 * DeviceMemoryPlan.FilterBackproject(g, pad, 1L << 40).Bytes - 2 * 4 * (pad + pad + 2 + 4 * pad) * 5;   // five lines fewer than all 12
        var fbPlan = DeviceMemoryPlan.FilterBackproject(g, pad, fbLimit);
        Assert.Equal(7, fbPlan.PerChunk);
        bp.MemoryBudgetOverride = fbLimit;
        var wbp = new float[g.SlabLength];
        bp.FilterBackproject(projections, filter, pad, cos, sin, [1, 1, 1, 1], g, wbp);
        Assert.Equal(7, bp.LastLinesPerBatch);
        Assert.Equal(fbPlan.Bytes, meter.PeakBytes);
        Assert.Equal(DeviceMemoryPlan.StockhamTwiddleBytes(pad, 1), meter.CurrentBytes);

        // The bundle adjustment's buffers (3 views, 2 landmarks, 5 observations), held until disposal.
        meter = new DeviceMemoryMeter(Accelerator);
        var problem = new BundleProblem(3, 2, [0, 1, 2, 0, 2], [0, 0, 0, 1, 1], [1, 2, 3, 4, 5], [5, 4, 3, 2, 1]);
        using (var bundle = new GpuBundleNormalEquations(Accelerator, meter))
        {
            bundle.Residuals(problem, new double[BundleLayout.ViewStateSize * 3], new double[6], [1, 1, 1, 1, 1], new double[10]);
            Assert.Equal(DeviceMemoryPlan.Bundle(5, 3, 2), meter.PeakBytes);
        }
        Assert.Equal(0, meter.CurrentBytes);
    }

    /// <summary>
    /// Issue 8: a 4096×4096×61 series, markerless with the defaults (coarse at its automatic binning, patches,
    /// solve, aligned stack at bin 2, WBP of 300 slices), planned under --gpu-memory 16G with the same functions the
    /// components allocate by. Each stage's operation fits the working half, and with what stays on the device
    /// from earlier stages (FFT twiddle tables, the bundle's buffers) the stage stays within 16 GiB. Pair and patch
    /// counts are upper bounds of what the stages would make. A plan check (Category=Plan), not a run.
    /// </summary>
    [Fact]
    [Trait("Category", "Plan")]
    public void A4096By4096By61MarkerlessRunIsPlannedWithin16GiB()
    {
        const int n = 4096, views = 61, thickness = 300, bin = 2;
        const long limit = 16L << 30;
        long budget = DeviceMemoryPlan.Budget(limit);
        var stages = new List<(string Stage, string Detail, long Bytes, bool Fits)>();
        long persistent = 0;

        // Coarse: the binned stack on the device, pairs in chunks.
        var coarse = new CoarseAlignOptions();
        int cb = CoarseAligner.AutoBin(n, n, coarse.AutoBinTargetPixels), cn = n / cb;
        var cs = CoarseAligner.CorrelationSettingsFor(cn, cn, cb, coarse);
        // One pair per view and its neighbour (the batch CoarseAligner makes); any count stays within the budget by chunking.
        var cp = DeviceMemoryPlan.PairCorrelation((long)cn * cn * views, cn, cn, cs.PaddedWidth, cs.PaddedHeight, views - 1, limit);
        stages.Add(("coarse", $"bin {cb}: {cn}² views, {cs.PaddedWidth}×{cs.PaddedHeight} frames, {cp.PerChunk} pairs per chunk", cp.Bytes, cp.Fits));
        persistent += DeviceMemoryPlan.StockhamTwiddleBytes(cs.PaddedWidth, cs.PaddedHeight);

        // Patches: the grid of PatchTracker at its automatic binning and patch size; a batch holds two images per patch.
        var (pb, p, centres) = Tomalign.Core.Patches.PatchTracker.Grid(n, n, new PatchTrackOptions());
        int patches = centres.Count, pad = Tomalign.Core.Fft.FftSize.NextGoodEven((int)Math.Ceiling(p * 1.2));
        var pp = DeviceMemoryPlan.PairCorrelation(2L * patches * p * p, p, p, pad, pad, patches, limit);
        stages.Add(("patches", $"bin {pb}: {patches} patches of {p}², {pad}² frames, {pp.PerChunk} pairs per chunk", persistent + pp.Bytes, pp.Fits));
        persistent += DeviceMemoryPlan.StockhamTwiddleBytes(pad, pad);

        // Solve: every patch seen in every view, each its own landmark (an upper bound); the buffers stay until the process ends.
        long bundle = DeviceMemoryPlan.Bundle(patches * views, views, patches * views);
        stages.Add(("solve", $"{patches * views} observations", persistent + bundle, bundle <= budget));
        persistent += bundle;

        // Apply: 4096² → 2048² (bin 2); ApplyTransforms hands the warper host chunks of ChunkBytes, the warper splits them further if needed.
        long viewIn = (long)n * n, viewOut = (long)(n / bin) * (n / bin);
        int hostChunk = (int)Math.Clamp(new Tomalign.Core.Pipeline.ApplyOptions().ChunkBytes / (4 * (viewIn + viewOut)), 1, views);
        var wp = DeviceMemoryPlan.Warp(n, n, hostChunk, n / bin, n / bin, limit);
        stages.Add(("apply", $"{n}² → {n / bin}², {hostChunk} views per call, {wp.PerChunk} per device chunk", persistent + wp.Bytes, wp.Fits));

        // Reconstruct: WBP of the 2048² aligned stack in slabs of rows; each slab's rows filtered on the device in batches of lines, then backprojected.
        int w = n / bin, rpad = Tomalign.Core.Fft.FftSize.NextGood(2 * w);
        var ro = new ReconstructionOptions { Thickness = thickness };
        int rows = Reconstructor.RowsPerSlab(w, w, views, thickness, rpad, ReconstructionMethod.Wbp, ro.SlabMemoryBytes, budget);
        var g = new SlabGeometry(w, rows, views, thickness, 0, rows);
        var fb = DeviceMemoryPlan.FilterBackproject(g, rpad, limit);
        stages.Add(("reconstruct", $"{w}²×{thickness}, {(w + rows - 1) / rows} slabs of {rows} rows; {fb.PerChunk} of {views * rows} lines of {rpad} per filter batch, backprojection {DeviceMemoryPlan.Backproject(g) / 1048576.0:F0} MiB",
            persistent + fb.Bytes, fb.Fits));
        foreach (var (stage, detail, bytes, fits) in stages)
            output.WriteLine($"{stage,-12} {bytes / 1048576.0,10:F1} MiB  {detail}");
        Assert.All(stages, s => Assert.True(s.Fits, $"{s.Stage}: one unit does not fit the {budget} byte working share"));
        Assert.All(stages, s => Assert.True(s.Bytes <= limit, $"{s.Stage}: {s.Bytes} bytes over 16 GiB"));
    }

    [Fact]
    public void AViewTooLargeForTheLimitIsOneClearErrorOrTheCpuPathWithAWarningNeverAnOverAllocation()
    {
        const int n = 64, nz = 3;
        var source = Random(n * n * nz, 61);
        var xfs = Enumerable.Range(0, nz).Select(i => Xf.RotationScale(2 * i, 1, 0.5, 0)).ToArray();
        var fill = new float[nz];
        var options = new WarpOptions(1, Interpolation.Linear);
        var expected = new float[source.Length];
        using (var cpu = new CpuBackend()) cpu.Warper.Warp(source, n, n, nz, xfs, fill, options, expected);

        // One view needs 32 KiB; 16 KiB leaves 8 KiB for it.
        var log = new ListLogger();
        using var withFallback = GpuBackend.CreateIlgpuCpu(() => new CpuBackend(), log, memoryLimitBytes: 16 << 10);
        var result = new float[source.Length];
        withFallback.Warper.Warp(source, n, n, nz, xfs, fill, options, result);
        Assert.Equal(expected, result);
        Assert.Equal(0, withFallback.PeakDeviceBytes);
        var warning = Assert.Single(log.Warnings, m => m.Contains("using the CPU path"));
        Assert.Contains("--gpu-memory", warning);

        using var without = GpuBackend.CreateIlgpuCpu(memoryLimitBytes: 16 << 10);
        var e = Assert.Throws<DeviceMemoryLimitException>(() => without.Warper.Warp(source, n, n, nz, xfs, fill, options, result));
        Assert.Contains("one 64×64 view", e.Message);
        Assert.Contains("--gpu-memory", e.Message);
        Assert.Equal(0, without.PeakDeviceBytes);
    }

    /// <summary>
    /// A whole bead run (coarse, beads, solve, apply, WBP) of 96²×7 on the emulator (the markerless run's patch tracking
    /// needs more and larger views, too slow here), unlimited and under --gpu-memory 2M: every stage of the limited run
    /// stays under 2 MiB, while the coarse and reconstruct stages of the unlimited run take more (so the limited run had
    /// to chunk pairs, slab rows and filter batches), and the alignment and tomogram are the same.
    /// </summary>
    [Fact]
    public void AWholeRunUnderGpuMemoryStaysUnderItAndGivesTheSameResult()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "--out", dir.Path, "--size", "96", "--beads", "10", "--tilt-min", "-60", "--tilt-max", "60", "--tilt-step", "20", "--seed", "5", "--quiet");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        const long limit = 2L << 20;
        CliRunner.Outcome Run(string sub, params string[] extra)
        {
            var outcome = CliRunner.Run(["run", dir.File("sim.mrc"), "--angles", dir.File("sim.rawtlt"), "--tilt-axis", "85", "--bead-diameter", "5",
                "--thickness", "24", "--bin", "1", "--device", "ilgpu-cpu", "--out", dir.File(sub), .. extra]);
            // 7 views of 96²: too small to align well, and the quality verdict says so (exit 4, outputs written). This test
            // compares the runs with and without the memory limit, which must agree whatever the verdict.
            Assert.True(outcome.ExitCode is ExitCodes.Ok or ExitCodes.Unreliable, outcome.ToString());
            Assert.DoesNotContain("CPU path", outcome.Err + outcome.Out);
            return outcome;
        }
        var first = Run("whole");
        var second = Run("limited", "--gpu-memory", "2M");
        Assert.Equal(first.ExitCode, second.ExitCode);
        Dictionary<string, long> StagePeaks(string sub, out long peak, out long? reportedLimit)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File(sub), "sim.run.json")));
            peak = doc.RootElement.GetProperty("peakDeviceBytes").GetInt64();
            reportedLimit = doc.RootElement.TryGetProperty("deviceLimitBytes", out var l) ? l.GetInt64() : null;
            return doc.RootElement.GetProperty("stages").EnumerateArray()
                .ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("peakDeviceBytes").GetInt64());
        }
        var whole = StagePeaks("whole", out long wholePeak, out var noLimit);
        var limited = StagePeaks("limited", out long limitedPeak, out var reported);
        foreach (var (stage, bytes) in whole) output.WriteLine($"{stage,-12} unlimited {bytes / 1048576.0,8:F2} MiB   under limit {limited[stage] / 1048576.0,8:F2} MiB");
        Assert.Null(noLimit);
        Assert.Equal(limit, reported);
        Assert.True(limitedPeak <= limit, $"peak {limitedPeak} over {limit}");
        Assert.All(limited, s => Assert.True(s.Value <= limit, $"{s.Key}: {s.Value} over {limit}"));
        Assert.True(whole["coarse"] > limit, $"unlimited coarse took {whole["coarse"]}: the limit forces nothing");
        Assert.True(whole["reconstruct"] > limit, $"unlimited reconstruct took {whole["reconstruct"]}: the limit forces nothing");
        Assert.True(wholePeak > limit);
        Assert.Equal(File.ReadAllText(Path.Combine(dir.File("whole"), "sim.xf")), File.ReadAllText(Path.Combine(dir.File("limited"), "sim.xf")));
        Assert.Equal(0, Commands.RelativeRmsDifference(Path.Combine(dir.File("limited"), "sim.rec"), Path.Combine(dir.File("whole"), "sim.rec")));
    }
}
