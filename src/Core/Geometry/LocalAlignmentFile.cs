using System.Globalization;
using System.Text;
using Tomalign.Core.IO;

namespace Tomalign.Core.Geometry;

/// <summary>
/// IMOD's local-alignment file (tiltalign's OutputLocalFile, tilt's LOCALFILE; the format of tiltalign's man page and
/// of what tilt reads, from IMOD's source, not copied). A header line
/// <c>nX nY xStart yStart dX dY ifXtilts pixelÅ ifZfactors</c> — the grid of area centres in pixels of the specimen's x and y
/// (image coordinates of the aligned stack's full size) — then one block per area, areas in X then in Y: the change of tilt
/// angle per view (degrees, added to the global tilt), the change of x-axis tilt per view when ifXtilts is 1, the z factors
/// (x, y pairs) per view when ifZfactors is 1, and one refinement transform per view (<c>A11 A12 A21 A22 DX DY</c> about
/// the image centre) that takes the area's aligned image of a point to where the point is in the globally aligned stack.
/// <para>Projection of a specimen point X = (x, y, z) (relative to the centre) in view i through area k:
/// q = (x·cos β + (y·sin φ + z·cos φ)·sin β + z·xzf, y·cos φ − z·sin φ + z·yzf) with β = θᵢ + Δβ, φ the x-axis tilt
/// (+ Δφ), then p = F(q); between area centres the positions of the four nearest areas are mixed bilinearly by the
/// point's x and y (as tilt's local_factors; beyond the outer centres the outermost areas' positions).</para>
/// </summary>
public sealed class LocalAlignmentFile
{
    public required int NumberX { get; init; }
    public required int NumberY { get; init; }
    public required int StartX { get; init; }
    public required int StartY { get; init; }
    public required int DeltaX { get; init; }
    public required int DeltaY { get; init; }
    public double PixelSizeAngstrom { get; init; }
    public required int Views { get; init; }
    /// <summary>Per area (X fastest), per view: the change of tilt angle (degrees).</summary>
    public required double[][] DeltaTilt { get; init; }
    /// <summary>Per area, per view: the change of x-axis tilt (degrees); null when the file has none.</summary>
    public double[][]? DeltaXTilt { get; init; }
    /// <summary>Per area, per view: z factors (x, y); null when the file has none.</summary>
    public (double X, double Y)[][]? ZFactors { get; init; }
    /// <summary>Per area, per view: the refinement transform (area's aligned image → globally aligned stack).</summary>
    public required Xf[][] Transforms { get; init; }

    public int Areas => NumberX * NumberY;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The file of a local solution (<see cref="Solve.LocalSolution"/>): per area and view the local geometry against the global one.</summary>
    /// <param name="refinement">per view, a transform that follows the global one in the aligned stack (the axis-profile refinement): it follows each area's too.</param>
    public static LocalAlignmentFile From(Solve.LocalSolution s, double pixelSizeAngstrom = 1, IReadOnlyList<Xf>? refinement = null)
    {
        ArgumentNullException.ThrowIfNull(s);
        int nv = s.Global.Length;
        bool zf = s.Areas.Any(a => a.Views.Any(v => v.HasDistortion)) || s.Global.Any(v => v.HasDistortion);
        return new LocalAlignmentFile
        {
            NumberX = s.NumberX, NumberY = s.NumberY, StartX = s.StartX, StartY = s.StartY, DeltaX = s.DeltaX, DeltaY = s.DeltaY,
            PixelSizeAngstrom = pixelSizeAngstrom, Views = nv,
            DeltaTilt = s.Areas.Select(a => a.Views.Select((v, i) => v.TiltDegrees - s.Global[i].TiltDegrees).ToArray()).ToArray(),
            DeltaXTilt = null,
            ZFactors = zf ? s.Areas.Select(a => a.Views.Select(v => v.ZFactors()).ToArray()).ToArray() : null,
            // The area's aligned image → its raw position (local model) → the globally aligned stack (global model).
            Transforms = s.Areas.Select(a => a.Views.Select((v, i) =>
            {
                var f = Xf.Product(v.AlignedToRaw(), s.Global[i].RawToAligned());
                return refinement is null ? f : Xf.Product(f, refinement[i]);
            }).ToArray()).ToArray(),
        };
    }

    /// <summary>The file's lines (tiltalign's layout; more decimals, which tilt's free-format reading takes).</summary>
    public IEnumerable<string> Lines()
    {
        yield return string.Create(Inv, $"{NumberX,6}{NumberY,6}{StartX,6}{StartY,6}{DeltaX,6}{DeltaY,6}{(DeltaXTilt is null ? 0 : 1),6}{PixelSizeAngstrom,12:F5}{(ZFactors is null ? 0 : 1),4}");
        for (int k = 0; k < Areas; k++)
        {
            foreach (var l in Rows(DeltaTilt[k], 10, "F4", 9)) yield return l;
            if (DeltaXTilt is not null) foreach (var l in Rows(DeltaXTilt[k], 10, "F4", 9)) yield return l;
            if (ZFactors is not null)
                foreach (var l in Rows(ZFactors[k].SelectMany(z => new[] { z.X, z.Y }).ToArray(), 6, "F6", 12)) yield return l;
            foreach (var t in Transforms[k])
                yield return string.Create(Inv, $"{t.A11,12:F7}{t.A12,12:F7}{t.A21,12:F7}{t.A22,12:F7}{t.Dx,12:F3}{t.Dy,12:F3}");
        }
    }

    private static IEnumerable<string> Rows(double[] values, int perLine, string format, int width)
    {
        for (int i = 0; i < values.Length; i += perLine)
        {
            var sb = new StringBuilder();
            for (int j = i; j < Math.Min(values.Length, i + perLine); j++) sb.Append(values[j].ToString(format, Inv).PadLeft(width));
            yield return sb.ToString();
        }
    }

    public void Write(string path) => AtomicFile.WriteAllLines(path, Lines());

    /// <summary>Reads a local-alignment file for a stack of <paramref name="views"/> views; a bad file is an input error naming it.</summary>
    public static LocalAlignmentFile Read(string path, int views)
    {
        if (!File.Exists(path)) throw new TomalignInputException(path, "the local-alignment file does not exist", "give the NAMElocal.xf that solve --local wrote");
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0) throw new TomalignInputException(path, "the local-alignment file is empty", "give the NAMElocal.xf that solve --local wrote");
        var head = Numbers(lines[0], path);
        if (head.Length < 6 || head.Take(6).Any(v => v != Math.Round(v)))
            throw new TomalignInputException(path, "the first line is not a local-alignment header (nX nY xStart yStart dX dY …)", "give an IMOD local-alignment file (tiltalign's OutputLocalFile)");
        int nX = (int)head[0], nY = (int)head[1];
        if (nX < 2 || nY < 2 || head[4] < 1 || head[5] < 1)
            throw new TomalignInputException(path, $"the header gives {nX} × {nY} areas {head[4]}, {head[5]} px apart", "there must be at least two areas in X and in Y, at least 1 px apart (as IMOD's tilt requires)");
        bool alpha = head.Length > 6 && head[6] != 0, zf = head.Length > 8 && head[8] != 0;
        var tokens = string.Join(' ', lines.Skip(1)).Split((char[])[' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries);
        int pos = 0;
        double Next(int area, string what)
        {
            if (pos >= tokens.Length)
                throw new TomalignInputException(path, $"ends in area {area + 1} of {nX * nY} while reading its {what}",
                    $"give the local file of this stack ({views} views): each area needs {views} tilt changes{(alpha ? ", x-tilt changes" : "")}{(zf ? ", z factors" : "")} and {views} transforms");
            if (!double.TryParse(tokens[pos], NumberStyles.Float, Inv, out double v) || !double.IsFinite(v))
                throw new TomalignInputException(path, $"'{tokens[pos]}' in area {area + 1} is not a number", "give an IMOD local-alignment file");
            pos++;
            return v;
        }
        int n = nX * nY;
        var dt = new double[n][]; var da = alpha ? new double[n][] : null; var z = zf ? new (double, double)[n][] : null; var xf = new Xf[n][];
        for (int k = 0; k < n; k++)
        {
            dt[k] = new double[views];
            for (int i = 0; i < views; i++) dt[k][i] = Next(k, "tilt changes");
            if (da is not null) { da[k] = new double[views]; for (int i = 0; i < views; i++) da[k][i] = Next(k, "x-tilt changes"); }
            if (z is not null) { z[k] = new (double, double)[views]; for (int i = 0; i < views; i++) z[k][i] = (Next(k, "z factors"), Next(k, "z factors")); }
            xf[k] = new Xf[views];
            for (int i = 0; i < views; i++)
                xf[k][i] = new Xf(Next(k, "transforms"), Next(k, "transforms"), Next(k, "transforms"), Next(k, "transforms"), Next(k, "transforms"), Next(k, "transforms"));
        }
        if (pos != tokens.Length)
            throw new TomalignInputException(path, $"has {tokens.Length - pos} numbers after its {n} areas of {views} views",
                "give the local file of this stack (as many views as the tilt angles)");
        return new LocalAlignmentFile
        {
            NumberX = nX, NumberY = nY, StartX = (int)head[2], StartY = (int)head[3], DeltaX = (int)head[4], DeltaY = (int)head[5],
            PixelSizeAngstrom = head.Length > 7 ? head[7] : 0, Views = views, DeltaTilt = dt, DeltaXTilt = da, ZFactors = z, Transforms = xf,
        };
    }

    private static double[] Numbers(string line, string path)
    {
        var t = line.Split((char[])[' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries);
        var v = new double[t.Length];
        for (int i = 0; i < t.Length; i++)
            if (!double.TryParse(t[i], NumberStyles.Float, Inv, out v[i]))
                throw new TomalignInputException(path, $"'{t[i]}' in the header is not a number", "give an IMOD local-alignment file (tiltalign's OutputLocalFile)");
        return v;
    }

    /// <summary>
    /// The projection of every point of a column (x, y) in view <paramref name="view"/>: u = Uf + Uz·z, v = Vf + Vz·z in the globally
    /// aligned stack, all relative to the centre in unbinned pixels (x, y, z likewise), for tilt <paramref name="tiltDegrees"/> and
    /// x-axis tilt <paramref name="xTiltDegrees"/>. <paramref name="width"/>, <paramref name="height"/>: the aligned stack's full
    /// size, whose centre the grid is measured from.
    /// </summary>
    public (double Uf, double Uz, double Vf, double Vz) Column(int view, double x, double y, double tiltDegrees, double xTiltDegrees, int width, int height)
    {
        double gx = x + width / 2.0, gy = y + height / 2.0;
        var (ax, fx) = Cell(gx - StartX, DeltaX, NumberX);
        var (ay, fy) = Cell(gy - StartY, DeltaY, NumberY);
        double uf = 0, uz = 0, vf = 0, vz = 0;
        for (int c = 0; c < 4; c++)
        {
            int kx = ax + (c & 1), ky = ay + (c >> 1);
            double f = ((c & 1) == 1 ? fx : 1 - fx) * ((c >> 1) == 1 ? fy : 1 - fy);
            if (f == 0) continue;
            var (a, b, d, e) = Area(ky * NumberX + kx, view, x, y, tiltDegrees, xTiltDegrees);
            uf += f * a; uz += f * b; vf += f * d; vz += f * e;
        }
        return (uf, uz, vf, vz);
    }

    /// <summary>Area k's projection of the column (x, y) in a view: (Uf, Uz, Vf, Vz) as <see cref="Column"/>.</summary>
    public (double Uf, double Uz, double Vf, double Vz) Area(int k, int view, double x, double y, double tiltDegrees, double xTiltDegrees)
    {
        double beta = (tiltDegrees + DeltaTilt[k][view]) * Math.PI / 180;
        double phi = (xTiltDegrees + (DeltaXTilt?[k][view] ?? 0)) * Math.PI / 180;
        double cb = Math.Cos(beta), sb = Math.Sin(beta), cp = Math.Cos(phi), sp = Math.Sin(phi);
        var (xzf, yzf) = ZFactors?[k][view] ?? (0, 0);
        double qxf = x * cb + y * sp * sb, qxz = cp * sb + xzf;
        double qyf = y * cp, qyz = yzf - sp;
        var t = Transforms[k][view];
        return (t.A11 * qxf + t.A12 * qyf + t.Dx, t.A11 * qxz + t.A12 * qyz, t.A21 * qxf + t.A22 * qyf + t.Dy, t.A21 * qxz + t.A22 * qyz);
    }

    /// <summary>The lower area index and the fraction towards the next one (tilt's local_factors: clamped to the outer centres).</summary>
    private static (int Index, double Fraction) Cell(double offset, int delta, int count)
    {
        double t = Math.Clamp(offset, 0, (count - 1) * (double)delta);
        int i = Math.Min((int)(t / delta), count - 2);
        return (i, (t - i * (double)delta) / delta);
    }
}
