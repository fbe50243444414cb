using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Tomalign.Core.Backend;
using Tomalign.Core.Fft;
using Tomalign.Core.Reconstruction;
using Tomalign.Cpu;

namespace Tomalign.Bench;

/// <summary>
/// Single-threaded throughput of the managed WBP pieces (issue 17): the row filter (lines/s) and the backprojection
/// (voxel-updates/s, one update = one view added to one voxel), on one slab of the side-by-side case (1024 wide, 61 views
/// over ±60°, thickness 256). Timed in process CPU time as well as wall time, so that a loaded machine still gives a
/// fair per-thread figure:  dotnet run -c Release --project bench/Tomalign.Bench -- wbp-throughput [rows] [threads]
/// </summary>
public static class WbpThroughput
{
    public static void Run(string[] args)
    {
        int rows = args.Length > 1 ? int.Parse(args[1]) : 16;
        int threads = args.Length > 2 ? int.Parse(args[2]) : 1;
        const int width = 1024, views = 61, thickness = 256;
        var rng = new Random(17);
        var g = new SlabGeometry(width, rows, views, thickness, 0);
        var proj = new float[g.ProjectionLength];
        for (int k = 0; k < proj.Length; k++) proj[k] = (float)rng.NextDouble();
        var tilts = Enumerable.Range(0, views).Select(i => -60.0 + 2 * i).ToArray();
        var cos = tilts.Select(t => (float)Math.Cos(t * Math.PI / 180)).ToArray();
        var sin = tilts.Select(t => (float)Math.Sin(t * Math.PI / 180)).ToArray();
        var w = Reconstructor.TrapezoidWeights(tilts);
        int pad = FftSize.NextGood(2 * width);
        var filter = Reconstructor.RampFilter(pad, new ReconstructionOptions());
        var slab = new float[g.SlabLength];
        var filtered = new float[g.ProjectionLength];
        var bp = new CpuBackprojector(threads);
        Console.WriteLine($"{threads} thread(s); slab {width}×{rows}×{thickness}, {views} views; Avx512F {System.Runtime.Intrinsics.X86.Avx512F.IsSupported}, Avx2 {System.Runtime.Intrinsics.X86.Avx2.IsSupported}");
        for (int rep = 0; rep < 3; rep++)
        {
            var (wf, cf) = Time(() => bp.FilterRows(proj, views * rows, width, filter, pad, filtered));
            var (wb, cb) = Time(() => bp.Backproject(filtered, cos, sin, w, g, slab));
            var (wa, ca) = Time(() => bp.FilterBackproject(proj, filter, pad, cos, sin, w, g, slab));
            double updates = (double)g.SlabLength * views;
            Console.WriteLine($"filter {views * rows} lines: wall {wf:F3} s, cpu {cf:F3} s ({views * rows / cf / 1e3:F1} k lines/cpu-s) | " +
                              $"backproject: wall {wb:F3} s, cpu {cb:F3} s ({updates / cb / 1e9:F2} G updates/cpu-s) | " +
                              $"both: wall {wa:F3} s, cpu {ca:F3} s ({updates / ca / 1e9:F2} G updates/cpu-s)");
        }
    }

    private static (double Wall, double Cpu) Time(Action a)
    {
        var p = Process.GetCurrentProcess();
        var c0 = p.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        a();
        p.Refresh();
        return (sw.Elapsed.TotalSeconds, (p.TotalProcessorTime - c0).TotalSeconds);
    }
}
