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

        var fill = stack.ViewMeans();
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

    /// <summary>
    /// Median wall time of a forward plus an inverse FFT of <paramref name="batch"/> random
    /// nx×ny frames (host buffers in and out, so a GPU time includes the transfers), after one
    /// untimed warm-up (plans, kernel compilation).
    /// </summary>
    public static TimeSpan TimeFft(IComputeBackend backend, int nx, int ny, int batch, int repeats)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), "at least one repeat");
        var real = new float[(long)nx * ny * batch];
        var random = new Random(1);
        for (int i = 0; i < real.Length; i++) real[i] = (float)random.NextDouble();
        var spectrum = new float[Fft2DArguments.SpectrumLength(nx, ny, batch)];
        var back = new float[real.Length];
        return Time(() =>
        {
            backend.Fft.Forward(real, nx, ny, batch, spectrum);
            backend.Fft.Inverse(spectrum, nx, ny, batch, back);
        }, repeats);
    }

    /// <summary>
    /// Median wall time of backprojecting <paramref name="rows"/> Y rows of every view of the
    /// stack into a slab of the given thickness (host buffers in and out), after one warm-up.
    /// </summary>
    public static TimeSpan TimeBackprojection(IComputeBackend backend, ImageStack stack, IReadOnlyList<double> tilts, int rows, int thickness, int repeats)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(stack);
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), "at least one repeat");
        rows = Math.Clamp(rows, 1, stack.Ny);
        var g = new SlabGeometry(stack.Nx, rows, stack.Nz, thickness, 0);
        var proj = new float[g.ProjectionLength];
        for (int i = 0; i < stack.Nz; i++)
            stack.Data.AsSpan(i * stack.ViewLength, rows * stack.Nx).CopyTo(proj.AsSpan(i * rows * stack.Nx, rows * stack.Nx));
        var cos = tilts.Select(t => (float)Math.Cos(t * Math.PI / 180)).ToArray();
        var sin = tilts.Select(t => (float)Math.Sin(t * Math.PI / 180)).ToArray();
        var w = Enumerable.Repeat(1f, stack.Nz).ToArray();
        var slab = new float[g.SlabLength];
        return Time(() => backend.Backprojector.Backproject(proj, cos, sin, w, g, slab), repeats);
    }

    /// <summary>Median wall time of correlating every view of the stack with a bead template of the given size, after one warm-up.</summary>
    public static TimeSpan TimeTemplateCorrelation(IComputeBackend backend, ImageStack stack, int size, int repeats)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(stack);
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), "at least one repeat");
        var template = Tomalign.Core.Beads.BeadTracker.BeadModel((size - 3) / 2.0, false, out int s);
        var output = new float[stack.Data.Length];
        return Time(() => backend.TemplateCorrelator.Correlate(stack.Data, stack.Nx, stack.Ny, stack.Nz, template, s, output), repeats);
    }

    /// <summary>
    /// Median wall time of markerless patch tracking of the whole (aligned) stack through the backend's pair correlator
    /// (every step's patches in one batch), after one warm-up; null when the views are too small for patches.
    /// </summary>
    public static TimeSpan? TimePatchTracking(IComputeBackend backend, ImageStack stack, IReadOnlyList<double> tilts, double tiltAxis, int repeats)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(stack);
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), "at least one repeat");
        var tracker = new Tomalign.Core.Patches.PatchTracker(backend.PairCorrelator);
        var options = new Tomalign.Core.Patches.PatchTrackOptions { TiltAxisDegrees = tiltAxis };
        // Views too small for patches are checked before the work (the grid alone); an error in the tracking itself is a bug and is thrown.
        try
        {
            if (Tomalign.Core.Patches.PatchTracker.Grid(stack.Nx, stack.Ny, options).Centres.Count == 0) return null;
        }
        catch (ArgumentException) { return null; }
        tracker.Track(stack, tilts, options);
        return Time(() => tracker.Track(stack, tilts, options), repeats);
    }

    /// <summary>
    /// Median wall time of one batched correlation of <paramref name="pairs"/> (views uploaded
    /// each call, as the coarse stage does), after one untimed warm-up.
    /// </summary>
    public static TimeSpan TimeCorrelation(IComputeBackend backend, float[] views, int nx, int ny, int nz,
        CorrelationPair[] pairs, CorrelationSettings settings, int repeats)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(views);
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), "at least one repeat");
        var stats = ViewStatisticsCalculator.Compute(views, nx, ny, nz);
        return Time(() => backend.PairCorrelator.Correlate(views, nx, ny, nz, stats, pairs, settings), repeats);
    }

    private static TimeSpan Time(Action once, int repeats)
    {
        once();
        var times = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            once();
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
