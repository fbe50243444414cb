using Tomalign.Core.Backend;
using Tomalign.Core.Backend.Verification;
using Tomalign.Cpu;
using Tomalign.Gpu;
using Tomalign.Tests.Backend;
using Xunit;

namespace Tomalign.Tests.Reconstruction;

/// <summary>
/// SIRT as one backend operation (issue 21.4): the device-resident iteration (ILGPU kernels, here on ILGPU's CPU
/// accelerator) against its managed twin, its device memory against its plan, progress and cancellation between
/// iterations, and the managed twin against the composition of Project and Backproject it replaced.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class SirtTests(IlgpuCpuFixture fixture)
{
    private sealed record Case(float[] Proj, float[] Cos, float[] Sin, SlabGeometry G, SirtSettings Settings);

    /// <summary>A random slab (a z shift, tilts within ±60°, one of them 0) and its random projections.</summary>
    private static Case RandomCase(int seed, int width = 29, int rows = 3, int views = 6, int thickness = 10, int iterations = 4)
    {
        var rng = new Random(seed);
        var g = new SlabGeometry(width, rows, views, thickness, (float)(rng.NextDouble() * 4 - 2));
        var t = Enumerable.Range(0, views).Select(i => i == 0 ? 0 : (rng.NextDouble() * 120 - 60) * Math.PI / 180).ToArray();
        // Mostly positive data with some negative values, so that positivity has something to clamp.
        var proj = Enumerable.Range(0, (int)g.ProjectionLength).Select(_ => (float)(rng.NextDouble() * 2 - 0.6)).ToArray();
        var settings = new SirtSettings(iterations, (float)(0.5 + rng.NextDouble()), Positivity: rng.Next(2) == 1);
        return new Case(proj, t.Select(a => (float)Math.Cos(a)).ToArray(), t.Select(a => (float)Math.Sin(a)).ToArray(), g, settings);
    }

    private static float[] NaNs(long n) => Enumerable.Repeat(float.NaN, (int)n).ToArray();

    [Fact]
    public void TheDeviceResidentIterationMatchesTheManagedTwinAndHoldsWhatItsPlanSays()
    {
        int seed = Random.Shared.Next();
        foreach (bool positivity in new[] { false, true })
        {
            var c = RandomCase(seed);
            var settings = c.Settings with { Positivity = positivity };
            var expected = new float[c.G.SlabLength];
            new CpuBackprojector().Sirt(c.Proj, c.Cos, c.Sin, c.G, settings, expected);
            var meter = new DeviceMemoryMeter(fixture.Backend.Accelerator);
            var gpu = new GpuBackprojector(fixture.Backend.Accelerator, meter);
            var actual = NaNs(c.G.SlabLength);
            gpu.Sirt(c.Proj, c.Cos, c.Sin, c.G, settings, actual);

            string what = $"seed {seed}, positivity {positivity}, λ {settings.Relaxation}";
            Assert.False(actual.Any(float.IsNaN), $"an element was not written ({what})");
            double error = KernelVerifier.MaxRelativeError(actual, expected);
            Assert.True(error <= KernelVerifier.SirtTolerance, $"relative error {error:E2} > {KernelVerifier.SirtTolerance:E0} ({what})");
            Assert.True(expected.Max(Math.Abs) > 1e-3f, $"the reconstruction is empty ({what})");
            if (positivity) Assert.True(expected.Min() >= 0, $"a negative voxel with positivity ({what})");
            else Assert.True(expected.Min() < 0, $"no negative voxel to tell positivity apart ({what})");

            // The resident buffers on the widened box, all released after the call.
            var box = SirtBox.Widened(c.G, SirtBox.Margin(c.G, c.Cos, c.Sin));
            Assert.Equal(DeviceMemoryPlan.Sirt(box), meter.PeakBytes);
            Assert.Equal(0, meter.CurrentBytes);
        }
    }

    /// <summary>A device budget too small for the resident buffers is one clear error before any work (the fallback then takes the CPU path).</summary>
    [Fact]
    public void ASlabTooLargeForTheBudgetIsRefusedBeforeAnyIteration()
    {
        var c = RandomCase(Random.Shared.Next());
        var box = SirtBox.Widened(c.G, SirtBox.Margin(c.G, c.Cos, c.Sin));
        var gpu = new GpuBackprojector(fixture.Backend.Accelerator) { MemoryBudgetOverride = DeviceMemoryPlan.Sirt(box) };   // the budget is a share of it
        int iterations = 0;
        var e = Assert.Throws<DeviceMemoryLimitException>(() => gpu.Sirt(c.Proj, c.Cos, c.Sin, c.G, c.Settings, new float[c.G.SlabLength], _ => iterations++));
        Assert.Contains("SIRT", e.Message);
        Assert.Equal(0, iterations);
    }

    /// <summary>
    /// The slabs the reconstructor plans for SIRT on a device hold the resident buffers within the working share: a
    /// 2048² aligned stack of 61 views (±60°), 300 voxels thick, under --gpu-memory 16G and 1G.
    /// </summary>
    [Theory]
    [InlineData(16L << 30)]
    [InlineData(1L << 30)]
    public void SirtSlabsArePlannedWithinTheDeviceBudget(long deviceBytes)
    {
        const int w = 2048, views = 61, thickness = 300;
        var tilts = Enumerable.Range(0, views).Select(i => (-60 + 2.0 * i) * Math.PI / 180).ToArray();
        var cos = tilts.Select(a => (float)Math.Cos(a)).ToArray();
        var sin = tilts.Select(a => (float)Math.Sin(a)).ToArray();
        long budget = DeviceMemoryPlan.Budget(deviceBytes);
        int margin = SirtBox.Margin(new SlabGeometry(w, 1, views, thickness, 0), cos, sin);
        int rows = Tomalign.Core.Reconstruction.Reconstructor.RowsPerSlab(w, w, views, thickness, Tomalign.Core.Fft.FftSize.NextGood(2 * w),
            Tomalign.Core.Reconstruction.ReconstructionMethod.Sirt, 1L << 40, budget, margin);
        var box = SirtBox.Widened(new SlabGeometry(w, rows, views, thickness, 0), margin);
        Assert.True(rows >= 1 && rows < w, $"{rows} rows per slab");
        Assert.True(DeviceMemoryPlan.Sirt(box) <= budget, $"{rows} rows need {DeviceMemoryPlan.Sirt(box)} bytes, over the {budget} byte share");
        // Nor far below it: twice the rows would not fit (the planner counts rows conservatively, not wastefully).
        var more = SirtBox.Widened(new SlabGeometry(w, rows * 2 + 2, views, thickness, 0), margin);
        Assert.True(DeviceMemoryPlan.Sirt(more) > budget, $"{rows} rows use under half of the share");
    }

    public static TheoryData<bool> Backends => new() { false, true };

    /// <summary>Every iteration is reported, in order, on both backends; a cancellation stops at the next iteration.</summary>
    [Theory]
    [MemberData(nameof(Backends))]
    public void EachIterationIsReportedAndACancellationStopsAtTheNext(bool device)
    {
        IBackprojector bp = device ? new GpuBackprojector(fixture.Backend.Accelerator) : new CpuBackprojector();
        var c = RandomCase(Random.Shared.Next(), iterations: 5);
        var done = new List<int>();
        bp.Sirt(c.Proj, c.Cos, c.Sin, c.G, c.Settings, new float[c.G.SlabLength], done.Add);
        Assert.Equal([0, 1, 2, 3, 4], done);

        using var cts = new CancellationTokenSource();
        done.Clear();
        Assert.ThrowsAny<OperationCanceledException>(() => bp.Sirt(c.Proj, c.Cos, c.Sin, c.G, c.Settings, new float[c.G.SlabLength], it =>
        {
            done.Add(it);
            if (it == 1) cts.Cancel();
        }, cts.Token));
        Assert.Equal([0, 1], done);

        // Through CancellableBackend: its own token, cancelled during an iteration, stops the next one too.
        using var outer = new CancellationTokenSource();
        using var cpuBackend = new CpuBackend();
        var wrapped = CancellableBackend.Wrap(device ? fixture.Backend : cpuBackend, outer.Token, ownsInner: false);
        done.Clear();
        Assert.ThrowsAny<OperationCanceledException>(() => wrapped.Backprojector.Sirt(c.Proj, c.Cos, c.Sin, c.G, c.Settings, new float[c.G.SlabLength], it =>
        {
            done.Add(it);
            if (it == 2) outer.Cancel();
        }));
        Assert.Equal([0, 1, 2], done);
    }

    /// <summary>
    /// The managed SIRT is, bit for bit, the iteration the reconstructor ran before it became one backend call
    /// (project, compare under a mask, backproject, update; written out here from that code), so `reconstruct
    /// --method sirt` on the CPU path gives the volumes it gave.
    /// </summary>
    [Fact]
    public void TheManagedSirtIsBitForBitTheProjectBackprojectLoopItReplaced()
    {
        int seed = Random.Shared.Next();
        var c = RandomCase(seed, width: 40, rows: 2, views: 9, thickness: 14, iterations: 3);
        foreach (bool positivity in new[] { false, true })
        {
            var settings = c.Settings with { Positivity = positivity };
            var bp = new CpuBackprojector();
            var actual = NaNs(c.G.SlabLength);
            bp.Sirt(c.Proj, c.Cos, c.Sin, c.G, settings, actual);
            var expected = ComposedSirt(bp, c.Proj, c.Cos, c.Sin, c.G, settings);
            for (int k = 0; k < expected.Length; k++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[k]) == BitConverter.SingleToInt32Bits(actual[k]),
                    $"voxel {k}: {actual[k]} ≠ {expected[k]} (seed {seed}, positivity {positivity})");
        }
    }

    /// <summary>The reconstructor's SIRT before issue 21.4, over the backend's Project and Backproject.</summary>
    private static float[] ComposedSirt(IBackprojector bp, float[] proj, float[] cos, float[] sin, SlabGeometry g, SirtSettings o)
    {
        double maxTan = 0;
        for (int i = 0; i < g.Views; i++) maxTan = Math.Max(maxTan, Math.Abs(sin[i] / cos[i]));
        int m = (int)Math.Ceiling((g.Thickness / 2.0 + Math.Abs(g.ZShift)) * maxTan) + 2;
        int we = g.Width + 2 * m;
        var ge = g with { Width = we };
        var data = new float[ge.ProjectionLength];
        var mask = new bool[ge.ProjectionLength];
        for (int line = 0; line < g.Views * g.Rows; line++)
        {
            proj.AsSpan(line * g.Width, g.Width).CopyTo(data.AsSpan(line * we + m, g.Width));
            mask.AsSpan(line * we + m, g.Width).Fill(true);
        }
        var ones = Enumerable.Repeat(1f, g.Views).ToArray();
        var volumeOnes = Enumerable.Repeat(1f, (int)ge.SlabLength).ToArray();
        var rowSums = new float[ge.ProjectionLength];
        bp.Project(volumeOnes, cos, sin, ge, rowSums);
        var projOnes = mask.Select(b => b ? 1f : 0f).ToArray();
        var colSums = new float[ge.SlabLength];
        bp.Backproject(projOnes, cos, sin, ones, ge, colSums);
        var volume = new float[ge.SlabLength];
        var current = new float[ge.ProjectionLength];
        var update = new float[ge.SlabLength];
        float lambda = o.Relaxation;
        for (int it = 0; it < o.Iterations; it++)
        {
            bp.Project(volume, cos, sin, ge, current);
            for (long k = 0; k < current.LongLength; k++)
                current[k] = mask[k] && rowSums[k] > 1e-6f ? (data[k] - current[k]) / rowSums[k] : 0f;
            bp.Backproject(current, cos, sin, ones, ge, update);
            for (long k = 0; k < volume.LongLength; k++)
            {
                float v = volume[k] + (colSums[k] > 1e-6f ? lambda * update[k] / colSums[k] : 0f);
                volume[k] = o.Positivity && v < 0 ? 0 : v;
            }
        }
        var slab = new float[g.SlabLength];
        for (int line = 0; line < g.Rows * g.Thickness; line++)
            volume.AsSpan(line * we + m, g.Width).CopyTo(slab.AsSpan(line * g.Width, g.Width));
        return slab;
    }
}

/// <summary>The device-resident SIRT on a CUDA GPU against the managed twin at a realistic slab; skipped, saying why, without one.</summary>
[Collection(CudaCollection.Name)]
public sealed class SirtTests_Cuda(CudaFixture fixture)
{
    [SkippableFact]
    public void TheDeviceResidentIterationMatchesTheManagedTwinOnCuda()
    {
        Skip.If(fixture.Backend is null, fixture.WhyAbsent);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var g = new SlabGeometry(256, 8, 61, 64, (float)(rng.NextDouble() * 4 - 2));
        var t = Enumerable.Range(0, g.Views).Select(i => (-60 + 2.0 * i) * Math.PI / 180).ToArray();
        float[] cos = t.Select(a => (float)Math.Cos(a)).ToArray(), sin = t.Select(a => (float)Math.Sin(a)).ToArray();
        var proj = Enumerable.Range(0, (int)g.ProjectionLength).Select(_ => (float)(rng.NextDouble() * 2 - 0.6)).ToArray();
        var settings = new SirtSettings(KernelVerifier.SirtIterations, (float)(0.5 + rng.NextDouble()), Positivity: true);
        var expected = new float[g.SlabLength];
        new CpuBackprojector().Sirt(proj, cos, sin, g, settings, expected);
        var actual = Enumerable.Repeat(float.NaN, (int)g.SlabLength).ToArray();
        fixture.Backend!.Backprojector.Sirt(proj, cos, sin, g, settings, actual);
        Assert.False(actual.Any(float.IsNaN), $"an element was not written (seed {seed})");
        double error = KernelVerifier.MaxRelativeError(actual, expected);
        Assert.True(error <= KernelVerifier.SirtTolerance, $"relative error {error:E2} > {KernelVerifier.SirtTolerance:E0} (seed {seed})");
    }
}
