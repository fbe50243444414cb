namespace Tomalign.Core.Formats;

/// <summary>One landmark of a tiltalign fid.xyz file.</summary>
/// <param name="Number">The landmark number as written (1-based in tiltalign's output).</param>
/// <param name="X">Solved X, pixels of the aligned stack, origin at the image corner (the centre is NX/2).</param>
/// <param name="Y">Solved Y, same origin (the centre is NY/2).</param>
/// <param name="Z">Solved Z, pixels, relative to the centre of the section (0 = tilt axis height).</param>
/// <param name="Object">IMOD model object.</param>
/// <param name="Contour">IMOD model contour within the object.</param>
public readonly record struct ImodFidPoint(int Number, double X, double Y, double Z, int Object, int Contour);

/// <summary>A fid.xyz file: the points, and the pixel size (Å) and image size from the first line's tail.</summary>
public sealed record ImodFidXyz(ImodFidPoint[] Points, double? PixelSizeAngstrom, int? Nx, int? Ny)
{
    private const string Fix = "each line must hold 'number X Y Z object contour', as tiltalign writes fid.xyz";

    /// <summary>
    /// Reads tiltalign's fid.xyz: <c>number X Y Z object contour</c> a line; the first line also
    /// carries <c>Pix: 20.2 Dim: 512 512</c>. X and Y share the origin of the stack's pixel
    /// coordinates (IMOD model coordinates), so X − NX/2, Y − NY/2, Z are the landmark relative
    /// to the volume centre, as checked on IMOD's BB data set (tests/data/imod-BB).
    /// </summary>
    public static ImodFidXyz Read(string path)
    {
        string[] lines = ImodText.ReadLines(path);
        var pts = new List<ImodFidPoint>();
        double? pix = null; int? nx = null, ny = null;
        for (int i = 0; i < lines.Length; i++)
        {
            string[] f = ImodText.Split(lines[i]);
            if (f.Length == 0) continue;
            if (f.Length < 6)
                throw new TomalignInputException(path, $"line {i + 1} holds {f.Length} values, not 6: '{ImodText.Clip(lines[i])}'", Fix);
            int n = ImodText.ParseInt(path, i + 1, f[0], Fix);
            double x = ImodText.ParseFinite(path, i + 1, f[1], Fix);
            double y = ImodText.ParseFinite(path, i + 1, f[2], Fix);
            double z = ImodText.ParseFinite(path, i + 1, f[3], Fix);
            int obj = ImodText.ParseInt(path, i + 1, f[4], Fix), cont = ImodText.ParseInt(path, i + 1, f[5], Fix);
            for (int k = 6; k < f.Length; k++)
            {
                if (f[k] == "Pix:" && k + 1 < f.Length) pix = ImodText.ParseFinite(path, i + 1, f[k + 1], Fix);
                if (f[k] == "Dim:" && k + 2 < f.Length)
                {
                    nx = ImodText.ParseInt(path, i + 1, f[k + 1], Fix);
                    ny = ImodText.ParseInt(path, i + 1, f[k + 2], Fix);
                }
            }
            pts.Add(new ImodFidPoint(n, x, y, z, obj, cont));
        }
        if (pts.Count == 0) throw new TomalignInputException(path, "the file holds no points", Fix);
        return new ImodFidXyz(pts.ToArray(), pix, nx, ny);
    }
}
