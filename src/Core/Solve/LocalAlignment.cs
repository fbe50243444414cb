using MathNet.Numerics.LinearAlgebra;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;
using Tomalign.Core.Geometry;

namespace Tomalign.Core.Solve;

/// <summary>
/// Options of local alignments (tiltalign's local options; etomo's usual values are the defaults): the field divided into
/// overlapping areas of about <see cref="TargetSizeX"/> × <see cref="TargetSizeY"/> pixels overlapping by
/// <see cref="MinOverlap"/> that fill the extent of the landmarks (TargetPatchSizeXandY, MinSizeOrOverlapXandY); an area
/// grows about its centre until it holds <see cref="MinLandmarks"/> landmarks and, when the landmarks lie on two surfaces,
/// <see cref="MinPerSurface"/> on each (MinFidsTotalAndEachSurface). Each area solves incremental rotation, tilt and
/// magnification (LocalRotOption 3 / 6, LocalTiltOption 5 / 6, LocalMagOption 3 / 7) and its own shifts, the landmarks fixed
/// at their global positions (FixXYZCoordinates, etomo's default).
/// </summary>
public sealed record LocalOptions
{
    public int TargetSizeX { get; init; } = 700;
    public int TargetSizeY { get; init; } = 700;
    /// <summary>Fractional overlap of neighbouring areas (0 ≤ overlap &lt; 1).</summary>
    public double MinOverlap { get; init; } = 0.5;
    public int MinLandmarks { get; init; } = 8;
    public int MinPerSurface { get; init; } = 3;
    public VariableOption Rotation { get; init; } = VariableOption.Linear(6);
    public VariableOption Tilt { get; init; } = VariableOption.Linear(6);
    public VariableOption Magnification { get; init; } = VariableOption.Linear(7);
    public int MaxIterations { get; init; } = 50;

    public void Validate()
    {
        if (TargetSizeX < 16 || TargetSizeY < 16)
            throw new TomalignInputException(null, $"local area size {TargetSizeX}×{TargetSizeY} px is too small", "give --local-size of at least 16,16 pixels");
        if (!(MinOverlap >= 0 && MinOverlap < 1))
            throw new TomalignInputException(null, $"local area overlap {MinOverlap} is not a fraction below 1", "give --local-overlap between 0 and 0.9");
        if (MinLandmarks < 3 || MinPerSurface < 0)
            throw new TomalignInputException(null, $"minimum of {MinLandmarks} landmarks per local area ({MinPerSurface} per surface)", "give --local-min of at least 3 landmarks (and 0 or more per surface)");
    }
}

/// <summary>One local area: its place on the grid, the box its landmarks came from, and its incremental solution.</summary>
/// <param name="Views">The area's view geometries (the global ones plus the area's increments).</param>
/// <param name="GlobalResidual">The global solution's residual over the area's points (the same points and weights).</param>
public sealed record LocalArea(int Ix, int Iy, double CenterX, double CenterY, double SizeX, double SizeY, int[] Landmarks, int Bottom, int Top,
    ViewGeometry[] Views, ResidualStats Residual, ResidualStats GlobalResidual, int Iterations, int Variables);

/// <summary>
/// The local alignments of a series: a grid of <see cref="NumberX"/> × <see cref="NumberY"/> areas whose centres start at
/// (<see cref="StartX"/>, <see cref="StartY"/>) and are <see cref="DeltaX"/>, <see cref="DeltaY"/> apart (pixels, image
/// coordinates of the specimen's x and y: landmark + NX/2, NY/2), areas ordered in X then in Y.
/// </summary>
public sealed record LocalSolution(int NumberX, int NumberY, int StartX, int StartY, int DeltaX, int DeltaY, LocalArea[] Areas,
    ViewGeometry[] Global, int Width, int Height, IReadOnlyList<string> Notes)
{
    /// <summary>Mean of the areas' mean residuals (tiltalign's "Residual error local mean").</summary>
    public double MeanResidual => Areas.Average(a => a.Residual.Mean);
}

/// <summary>
/// tiltalign's local alignments (its setupAndDoLocalAlignments, read for the scheme, not copied): after the global solve,
/// the field is divided into overlapping areas; the landmarks whose solved x and y fall in an area are solved again, for
/// variables incremental to the global solution: per-view shifts and mapped rotation, tilt and magnification changes, the
/// landmarks held at their global 3-D positions (FixXYZCoordinates). As in tiltalign every landmark inside the area's box
/// counts fully (tiltalign weights no landmark by its distance from the centre); the robust weights of the global solve
/// carry over. The result is written as IMOD's local-alignment file (<see cref="LocalAlignmentFile"/>).
/// </summary>
public sealed class LocalAligner(ILogger? logger = null)
{
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    /// <summary>The landmarks' border added to their extent (tiltalign's allBorder).</summary>
    private const double Border = 5;
    /// <summary>Step by which an area grows about its centre until it holds enough landmarks (tiltalign: 40 px).</summary>
    private const int Grow = 40;

    public LocalSolution Solve(SolveInput input, SolveResult global, LocalOptions options)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(global);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var notes = new List<string>();
        double xc = input.CenterX, yc = input.CenterY;
        var lms = global.Landmarks;
        if (lms.Length < options.MinLandmarks)
            throw new TomalignInputException(null, $"{lms.Length} landmarks are too few for local alignments (at least {options.MinLandmarks} per area)",
                "track more landmarks, or lower --local-min");
        // Grid over the landmarks' extent (TargetPatchSizeXandY with an overlap: areas up to 5 % above the target fill it).
        double xMin = lms.Min(l => l.X) + xc - Border, xMax = lms.Max(l => l.X) + xc + Border;
        double yMin = lms.Min(l => l.Y) + yc - Border, yMax = lms.Max(l => l.Y) + yc + Border;
        var (nX, sizeX, deltaX, startX) = Axis(xMin, xMax, options.TargetSizeX, options.MinOverlap);
        var (nY, sizeY, deltaY, startY) = Axis(yMin, yMax, options.TargetSizeY, options.MinOverlap);
        notes.Add($"local alignments: landmarks span {xMax - xMin - 2 * Border:F0} × {yMax - yMin - 2 * Border:F0} px; {nX} × {nY} areas of at least {sizeX} × {sizeY} px, centres {deltaX}, {deltaY} px apart");
        _log.LogInformation("Local alignments: {Nx} × {Ny} areas of at least {Sx} × {Sy} px", nX, nY, sizeX, sizeY);

        // Two surfaces: landmarks above and below the plane fitted through them (tiltalign's find_surfaces, in its simplest form).
        var surface = Surfaces(lms);
        bool twoSurfaces = surface.Contains(1) && surface.Contains(2);

        // Points by landmark, with the global robust weights.
        var index = new Dictionary<int, int>();
        for (int j = 0; j < lms.Length; j++) index[lms[j].Id] = j;
        var points = global.Points.Where(p => index.ContainsKey(p.Landmark)).ToArray();
        bool anyWeight = points.Any(p => p.Weight > 0);

        var areas = new LocalArea[nX * nY];
        for (int iy = 0; iy < nY; iy++)
            for (int ix = 0; ix < nX; ix++)
            {
                double cx = startX + ix * deltaX, cy = startY + iy * deltaY;
                int nxp = sizeX - Grow, nyp = sizeY - Grow;
                List<int> inside;
                int bottom, top;
                do
                {
                    nxp += Grow; nyp += Grow;
                    double x0 = cx - nxp / 2, y0 = cy - nyp / 2;
                    inside = [];
                    for (int j = 0; j < lms.Length; j++)
                    {
                        double lx = lms[j].X + xc, ly = lms[j].Y + yc;
                        if (lx >= x0 && lx <= x0 + nxp && ly >= y0 && ly <= y0 + nyp) inside.Add(j);
                    }
                    bottom = inside.Count(j => surface[j] == 1);
                    top = inside.Count(j => surface[j] == 2);
                } while ((inside.Count < options.MinLandmarks || (twoSurfaces && Math.Min(bottom, top) < options.MinPerSurface))
                         && (nxp < 4 * xc || nyp < 4 * yc));
                var set = inside.ToHashSet();
                var area = points.Where(p => set.Contains(index[p.Landmark])).ToArray();
                var weights = area.Select(p => anyWeight ? p.Weight : 1.0).ToArray();
                var (views, iterations, variables) = SolveArea(input, global, area, weights, index, options);
                var residual = Residuals(input, views, lms, index, area);
                var before = Residuals(input, global.Views, lms, index, area);
                areas[iy * nX + ix] = new LocalArea(ix, iy, cx, cy, nxp, nyp, inside.Select(j => lms[j].Id).ToArray(), bottom, top, views,
                    ResidualStats.Of(residual), ResidualStats.Of(before), iterations, variables);
                _log.LogInformation("Local area {Ix},{Iy} at ({Cx:F0}, {Cy:F0}), {Sx}×{Sy} px, {N} landmarks: residual mean {Mean:F3} px (global {Global:F3})",
                    ix, iy, cx, cy, nxp, nyp, inside.Count, areas[iy * nX + ix].Residual.Mean, areas[iy * nX + ix].GlobalResidual.Mean);
            }
        var solution = new LocalSolution(nX, nY, startX, startY, deltaX, deltaY, areas, global.Views, input.Width, input.Height, notes);
        notes.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"local alignments: residual local mean {solution.MeanResidual:F3} px, range {areas.Min(a => a.Residual.Mean):F3} to {areas.Max(a => a.Residual.Mean):F3} (global solution over the same points {areas.Average(a => a.GlobalResidual.Mean):F3})"));
        return solution;
    }

    /// <summary>
    /// tiltalign's grid along one axis for a target size and a fractional overlap: the number of areas that fill the extent,
    /// one more when the areas would be over 5 % larger than the target; their size, spacing and first centre (integers, as tiltalign's).
    /// </summary>
    internal static (int Count, int Size, int Delta, int Start) Axis(double min, double max, int target, double overlap)
    {
        double extent = max - min;
        int n = Math.Max(2, (int)((extent - target) / (target * (1 - overlap))) + 1);
        int size = (int)(extent / (n - overlap * (n - 1)));
        if (size > 1.05 * target)
        {
            n++;
            size = (int)(extent / (n - overlap * (n - 1)));
        }
        int delta = (int)((extent - size) / Math.Max(1, n - 1)) + 1;
        int start = (int)(min + size / 2);
        return (n, size, delta, start);
    }

    /// <summary>1 (below) or 2 (above) the least-squares plane z = a + b·x + c·y of the landmarks.</summary>
    internal static int[] Surfaces(IReadOnlyList<SolvedLandmark> lms)
    {
        int n = lms.Count;
        var a = Matrix<double>.Build.Dense(n, 3, (i, k) => k == 0 ? 1 : k == 1 ? lms[i].X : lms[i].Y);
        var z = Vector<double>.Build.Dense(n, i => lms[i].Z);
        Vector<double> c;
        try { c = a.QR().Solve(z); }
        catch (Exception) { c = Vector<double>.Build.Dense(3); }
        return lms.Select(l => l.Z >= c[0] + c[1] * l.X + c[2] * l.Y ? 2 : 1).ToArray();
    }

    private static double[] Residuals(SolveInput input, ViewGeometry[] views, SolvedLandmark[] lms, Dictionary<int, int> index, PointResidual[] area)
    {
        var r = new double[area.Length];
        for (int k = 0; k < area.Length; k++)
        {
            var p = area[k];
            var l = lms[index[p.Landmark]];
            var (px, py) = views[p.View].ProjectPoint(l.X, l.Y, l.Z);
            double dx = px - (p.X - input.CenterX), dy = py - (p.Y - input.CenterY);
            r[k] = Math.Sqrt(dx * dx + dy * dy);
        }
        return r;
    }

    /// <summary>
    /// The area's incremental solve: Levenberg–Marquardt on the weighted reprojection error of its points over the mapped
    /// changes of rotation, tilt and magnification and each observed view's shifts; the landmarks stay at their global positions.
    /// </summary>
    private (ViewGeometry[] Views, int Iterations, int Variables) SolveArea(SolveInput input, SolveResult global, PointResidual[] area, double[] weights,
        Dictionary<int, int> index, LocalOptions options)
    {
        int nv = global.Views.Length;
        var counts = new int[nv];
        foreach (var p in area) counts[p.View]++;
        int reference = global.ReferenceView;
        if (counts[reference] == 0)
            reference = Enumerable.Range(0, nv).Where(i => counts[i] > 0).MinBy(i => Math.Abs(global.Views[i].TiltDegrees));
        var map = VariableMap.Build(nv, counts, options.Rotation, options.Tilt, options.Magnification, reference, null, tiltDegrees: global.Views.Select(v => v.TiltDegrees).ToArray());
        int nvar = map.Count, np = map.Parameters;
        var lms = global.Landmarks;
        var delta = new double[BundleLayout.ViewParameters * nv]; // per view: rotation (deg), tilt (deg), magnification, dx, dy
        ViewGeometry[] Apply(double[] d)
        {
            var v = new ViewGeometry[nv];
            for (int i = 0; i < nv; i++)
            {
                var g = global.Views[i];
                int o = BundleLayout.ViewParameters * i;
                v[i] = g with
                {
                    AxisAngleDegrees = g.AxisAngleDegrees + d[o], TiltDegrees = g.TiltDegrees + d[o + 1], Magnification = g.Magnification + d[o + 2],
                    ShiftX = g.ShiftX + d[o + 3], ShiftY = g.ShiftY + d[o + 4],
                };
            }
            return v;
        }
        double Cost(ViewGeometry[] v, double[]? r)
        {
            double c = 0;
            for (int k = 0; k < area.Length; k++)
            {
                var p = area[k];
                var l = lms[index[p.Landmark]];
                var (px, py) = v[p.View].ProjectPoint(l.X, l.Y, l.Z);
                double dx = px - (p.X - input.CenterX), dy = py - (p.Y - input.CenterY);
                if (r is not null) { r[2 * k] = dx; r[2 * k + 1] = dy; }
                c += weights[k] * (dx * dx + dy * dy);
            }
            return c;
        }
        var views = Apply(delta);
        var res = new double[2 * area.Length];
        double cost = Cost(views, res);
        double lambda = 1e-3;
        int it;
        // Finite-difference steps of the view parameters (degrees, degrees, magnification, px, px).
        double[] step = [1e-4, 1e-4, 1e-6, 1e-3, 1e-3];
        for (it = 1; it <= options.MaxIterations; it++)
        {
            // Jacobian of each point's residual in its view's five parameters, then mapped to the variables.
            var jtj = new double[nvar * nvar];
            var jtr = new double[nvar];
            var jp = new double[2 * np];
            for (int k = 0; k < area.Length; k++)
            {
                var p = area[k];
                var l = lms[index[p.Landmark]];
                var g = views[p.View];
                var (x0, y0) = g.ProjectPoint(l.X, l.Y, l.Z);
                for (int q = 0; q < np; q++)
                {
                    var gq = q switch
                    {
                        0 => g with { AxisAngleDegrees = g.AxisAngleDegrees + step[0] },
                        1 => g with { TiltDegrees = g.TiltDegrees + step[1] },
                        2 => g with { Magnification = g.Magnification + step[2] },
                        3 => g with { ShiftX = g.ShiftX + step[3] },
                        _ => g with { ShiftY = g.ShiftY + step[4] },
                    };
                    var (x1, y1) = gq.ProjectPoint(l.X, l.Y, l.Z);
                    jp[2 * q] = (x1 - x0) / step[q]; jp[2 * q + 1] = (y1 - y0) / step[q];
                }
                double w = weights[k];
                if (w == 0) continue;
                int row = np * p.View;
                for (int q1 = 0; q1 < np; q1++)
                    foreach (var (v1, w1) in map.Entries[row + q1])
                    {
                        jtr[v1] += w * w1 * (jp[2 * q1] * res[2 * k] + jp[2 * q1 + 1] * res[2 * k + 1]);
                        for (int q2 = 0; q2 < np; q2++)
                        {
                            double h = w * w1 * (jp[2 * q1] * jp[2 * q2] + jp[2 * q1 + 1] * jp[2 * q2 + 1]);
                            foreach (var (v2, w2) in map.Entries[row + q2]) jtj[v1 * nvar + v2] += h * w2;
                        }
                    }
            }
            bool accepted = false;
            double newCost = cost;
            double[] trial = delta;
            ViewGeometry[] trialViews = views;
            while (lambda < 1e12)
            {
                var m = Matrix<double>.Build.Dense(nvar, nvar, (i, j) => jtj[j * nvar + i] + (i == j ? lambda * jtj[i * nvar + i] + 1e-12 : 0));
                Vector<double> x;
                try { x = m.Cholesky().Solve(Vector<double>.Build.Dense(nvar, i => -jtr[i])); }
                catch (ArgumentException) { lambda *= 10; continue; }
                trial = (double[])delta.Clone();
                for (int r = 0; r < trial.Length; r++)
                    foreach (var (v, wv) in map.Entries[r]) trial[r] += wv * x[v];
                trialViews = Apply(trial);
                newCost = Cost(trialViews, null);
                if (double.IsFinite(newCost) && newCost < cost) { accepted = true; break; }
                lambda *= 10;
            }
            if (!accepted) break;
            double relative = (cost - newCost) / Math.Max(newCost, 1e-300);
            delta = trial; views = trialViews;
            cost = Cost(views, res);
            lambda = Math.Max(lambda / 10, 1e-12);
            if (relative < 1e-10) break;
        }
        return (views, Math.Min(it, options.MaxIterations), nvar);
    }
}
