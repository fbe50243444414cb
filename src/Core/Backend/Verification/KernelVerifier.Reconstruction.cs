namespace Tomalign.Core.Backend.Verification;

public static partial class KernelVerifier
{
    /// <summary>Backprojection and projection sum up to a few hundred float products in the same order on both sides: 1e-4 of the peak.</summary>
    public const double BackprojectionTolerance = 1e-4;

    /// <summary>SIRT iterations the verifier runs.</summary>
    public const int SirtIterations = 3;

    /// <summary>
    /// SIRT chains a projection and a backprojection per iteration (each within <see cref="BackprojectionTolerance"/>),
    /// with the updates scaled by the inverse ray lengths and view counts; the iteration damps a perturbation rather than
    /// growing it, so after <see cref="SirtIterations"/> iterations the differences stay of the order of one step's:
    /// 2e-4 of the peak. A wrong sum, weight, mask or clamp moves the result by ≥ 1e-2.
    /// </summary>
    public const double SirtTolerance = 2e-4;

    /// <summary>
    /// Backprojection, forward projection, WBP (row filter then backprojection) and SIRT of a random Y slab (random tilts within
    /// ±60°, weights and z shift), GPU against the managed twin; outputs are NaN-filled first so unwritten elements fail.
    /// </summary>
    public static IEnumerable<VerifyResult> VerifyBackprojection(IComputeBackend gpu, IComputeBackend cpu, int width, int rows, int views, int thickness, Random random)
    {
        var g = new SlabGeometry(width, rows, views, thickness, (float)(random.NextDouble() * 4 - 2));
        var angles = Enumerable.Range(0, views).Select(_ => (random.NextDouble() * 120 - 60) * Math.PI / 180).ToArray();
        var cos = angles.Select(a => (float)Math.Cos(a)).ToArray();
        var sin = angles.Select(a => (float)Math.Sin(a)).ToArray();
        var weights = angles.Select(_ => (float)random.NextDouble()).ToArray();
        var proj = new float[g.ProjectionLength];
        for (long k = 0; k < proj.LongLength; k++) proj[k] = (float)(random.NextDouble() * 2 - 1);
        string name = $"{width}×{rows} rows, {views} views, T {thickness}";
        yield return Compare("backproject", name, BackprojectionTolerance, g.SlabLength,
            o => cpu.Backprojector.Backproject(proj, cos, sin, weights, g, o), o => gpu.Backprojector.Backproject(proj, cos, sin, weights, g, o));

        var slab = new float[g.SlabLength];
        for (long k = 0; k < slab.LongLength; k++) slab[k] = (float)random.NextDouble();
        yield return Compare("project", name, BackprojectionTolerance, g.ProjectionLength,
            o => cpu.Backprojector.Project(slab, cos, sin, g, o), o => gpu.Backprojector.Project(slab, cos, sin, g, o));

        // WBP of the slab: the row filter (pad, FFT, ramp, inverse) and the backprojection in one call, on the device from end to end.
        int pad = Fft.FftSize.NextGood(2 * width);
        var filter = Reconstruction.Reconstructor.RampFilter(pad, new Reconstruction.ReconstructionOptions());
        yield return Compare("filter + backproject", name, BackprojectionTolerance, g.SlabLength,
            o => cpu.Backprojector.FilterBackproject(proj, filter, pad, cos, sin, weights, g, o),
            o => gpu.Backprojector.FilterBackproject(proj, filter, pad, cos, sin, weights, g, o));

        // SIRT, every iteration in one call (device-resident on a GPU): a few iterations with a random relaxation, positivity
        // on, so the compare, update and clamp steps and the widened box are all exercised. On a slab of at most 256 × 4 rows
        // × 64, since the managed twin runs 2 + 2·iterations passes of the projector on the widened box.
        var gs = g with { Width = Math.Min(width, 256), Rows = Math.Min(rows, 4), Thickness = Math.Min(thickness, 64) };
        var sp = new float[gs.ProjectionLength];
        for (long k = 0; k < sp.LongLength; k++) sp[k] = (float)(random.NextDouble() * 2 - 0.6);
        var settings = new SirtSettings(SirtIterations, (float)(0.5 + random.NextDouble()), Positivity: true);
        yield return Compare("sirt", $"{gs.Width}×{gs.Rows} rows, {views} views, T {gs.Thickness}, {SirtIterations} iterations", SirtTolerance, gs.SlabLength,
            o => cpu.Backprojector.Sirt(sp, cos, sin, gs, settings, o), o => gpu.Backprojector.Sirt(sp, cos, sin, gs, settings, o));
    }

    /// <summary>
    /// One row: the managed twin into a fresh output, the device into a NaN-filled one (so an element left unwritten fails),
    /// the largest relative error against <paramref name="tolerance"/>.
    /// </summary>
    private static VerifyResult Compare(string kernel, string name, double tolerance, long length, Action<float[]> twin, Action<float[]> device)
    {
        var expected = new float[length];
        var actual = new float[length];
        Array.Fill(actual, float.NaN);
        twin(expected);
        device(actual);
        bool written = !actual.Any(float.IsNaN);
        double error = MaxRelativeError(actual, expected);
        return new VerifyResult(kernel, name, error, tolerance, written, written && error <= tolerance);
    }

    /// <summary>
    /// Backprojection and WBP with an x-axis tilt of 5–12° (either sign) whose slab reaches past both ends of the projection rows:
    /// the slab's first row samples projection row v = −0.5 ± the tilt's spread (the interpolation between the zero below
    /// row 0 and row 0, where −1 &lt; v &lt; 0), its last row v ≈ rows − 0.5 (between the last row and the zero above it). A
    /// bound test off by one row (v ≥ 0 for v &gt; −1, or v &lt; rows − 1 for v &lt; rows) shows here and not in the plain case.
    /// </summary>
    public static IEnumerable<VerifyResult> VerifyBackprojectionEdges(IComputeBackend gpu, IComputeBackend cpu, int width, int rows, int views, int thickness, Random random)
    {
        ArgumentNullException.ThrowIfNull(gpu);
        ArgumentNullException.ThrowIfNull(cpu);
        ArgumentNullException.ThrowIfNull(random);
        double phi = (5 + 7 * random.NextDouble()) * (random.Next(2) == 0 ? -1 : 1) * Math.PI / 180;
        var g = new SlabGeometry(width, rows, views, thickness, (float)(random.NextDouble() * 2 - 1), rows,
            (float)Math.Cos(phi), (float)Math.Sin(phi), -0.5f, 0f);
        var angles = Enumerable.Range(0, views).Select(_ => (random.NextDouble() * 120 - 60) * Math.PI / 180).ToArray();
        var cos = angles.Select(a => (float)Math.Cos(a)).ToArray();
        var sin = angles.Select(a => (float)Math.Sin(a)).ToArray();
        var weights = angles.Select(_ => (float)(0.5 + random.NextDouble())).ToArray();
        var proj = new float[g.ProjectionLength];
        // Positive data: an edge sample dropped lowers the sum instead of possibly cancelling.
        for (long k = 0; k < proj.LongLength; k++) proj[k] = (float)(0.5 + random.NextDouble());
        string name = $"{width}×{rows} rows, {views} views, T {thickness}, x-axis tilt {phi * 180 / Math.PI:F1}°, edge rows";
        yield return Compare("backproject", name, BackprojectionTolerance, g.SlabLength,
            o => cpu.Backprojector.Backproject(proj, cos, sin, weights, g, o), o => gpu.Backprojector.Backproject(proj, cos, sin, weights, g, o));

        int pad = Fft.FftSize.NextGood(2 * width);
        var filter = Reconstruction.Reconstructor.RampFilter(pad, new Reconstruction.ReconstructionOptions());
        yield return Compare("filter + backproject", name, BackprojectionTolerance, g.SlabLength,
            o => cpu.Backprojector.FilterBackproject(proj, filter, pad, cos, sin, weights, g, o),
            o => gpu.Backprojector.FilterBackproject(proj, filter, pad, cos, sin, weights, g, o));
    }

    /// <summary>
    /// Backprojection with local alignments (reconstruct --local-xf) and its WBP, GPU against the managed twin: a random column
    /// table whose projections wander over the held rows and a little past them (tilts within ±60°, local changes of a few
    /// pixels, rows reaching below 0 and above the last row), random weights and z shift; outputs NaN-filled first.
    /// </summary>
    public static IEnumerable<VerifyResult> VerifyLocalBackprojection(IComputeBackend gpu, IComputeBackend cpu, int width, int rows, int views, int thickness, Random random)
    {
        ArgumentNullException.ThrowIfNull(gpu);
        ArgumentNullException.ThrowIfNull(cpu);
        ArgumentNullException.ThrowIfNull(random);
        var (proj, columns, weights, g) = RandomLocalSlab(width, rows, views, thickness, random);
        string name = $"{width}×{rows} rows, {views} views, T {thickness}, {g.InRows} rows held";
        if (gpu.LocalBackprojector is not { } device || cpu.LocalBackprojector is not { } twin)
        {
            yield return new VerifyResult("local backproject", name + " (no local backprojector)", double.NaN, BackprojectionTolerance, false, false);
            yield break;
        }
        int pad = Fft.FftSize.NextGood(2 * width);
        var filter = Reconstruction.Reconstructor.RampFilter(pad, new Reconstruction.ReconstructionOptions());
        yield return Compare("local backproject", name, BackprojectionTolerance, g.SlabLength,
            o => twin.FilterBackproject(proj, filter, pad, columns, weights, g, o), o => device.FilterBackproject(proj, filter, pad, columns, weights, g, o));
    }

    /// <summary>A random local slab: positive projections, a column table of tilted projections with local changes, in and slightly past the held rows.</summary>
    public static (float[] Projections, float[] Columns, float[] Weights, LocalSlabGeometry Geometry) RandomLocalSlab(int width, int rows, int views, int thickness, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        int inRows = rows + 4;
        var g = new LocalSlabGeometry(width, rows, views, thickness, (float)(random.NextDouble() * 4 - 2), inRows);
        var proj = new float[g.ProjectionLength];
        for (long k = 0; k < proj.LongLength; k++) proj[k] = (float)(0.5 + random.NextDouble());
        var tilt = Enumerable.Range(0, views).Select(_ => (random.NextDouble() * 120 - 60) * Math.PI / 180).ToArray();
        var columns = new float[g.ColumnLength];
        for (int r = 0; r < rows; r++)
            for (int x = 0; x < width; x++)
                for (int i = 0; i < views; i++)
                {
                    long o = 4L * (((long)r * width + x) * views + i);
                    columns[o] = (float)((x - width / 2.0) * Math.Cos(tilt[i]) + width / 2.0 + 3 * (random.NextDouble() - 0.5));
                    columns[o + 1] = (float)(Math.Sin(tilt[i]) + 0.02 * (random.NextDouble() - 0.5));
                    columns[o + 2] = (float)(r + 2 + 5 * (random.NextDouble() - 0.5));
                    columns[o + 3] = (float)(0.05 * (random.NextDouble() - 0.5));
                }
        var weights = tilt.Select(_ => (float)(0.5 + random.NextDouble())).ToArray();
        return (proj, columns, weights, g);
    }
}
