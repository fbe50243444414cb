using System.Diagnostics;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Backend.Benchmarks;

/// <summary>Wall-clock timing of backend stages for `tomalign bench` (the CLI prints the table).</summary>
public static class StageBenchmark
{
    /// <summary>
    /// Median wall time of <paramref name="repeats"/> warps of the whole stack, after one untimed
    /// warm-up (kernel compilation, thread-pool growth, first-touch of the output).
    /// Fill values are the view means, as newstack does.
    /// </summary>
    public static TimeSpan TimeWarp(IComputeBackend backend, ImageStack stack, Xf[] transforms, WarpOptions options, int repeats)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(transforms);
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), "at least one repeat");

        var fill = new float[stack.Nz];
        for (int z = 0; z < stack.Nz; z++)
        {
            double sum = 0;
            foreach (float v in stack.ReadView(z)) sum += v;
            fill[z] = (float)(sum / stack.ViewLength);
        }
        var output = new float[(long)options.OutputWidth(stack.Nx) * options.OutputHeight(stack.Ny) * stack.Nz];

        void Once() => backend.Warper.Warp(stack.Data, stack.Nx, stack.Ny, stack.Nz, transforms, fill, options, output);
        Once();
        var times = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            Once();
            times[r] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return TimeSpan.FromSeconds(Median(times));
    }

    /// <summary>Output pixels per second of a warp that took <paramref name="time"/>.</summary>
    public static double PixelsPerSecond(ImageStack stack, WarpOptions options, TimeSpan time) =>
        (double)options.OutputWidth(stack.Nx) * options.OutputHeight(stack.Ny) * stack.Nz / time.TotalSeconds;

    private static double Median(double[] values)
    {
        Array.Sort(values);
        int n = values.Length;
        return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    }
}
