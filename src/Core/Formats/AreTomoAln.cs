using System.Globalization;
using System.Text;
using Tomalign.Core.Geometry;

namespace Tomalign.Core.Formats;

/// <summary>One row of an AreTomo alignment's global table.</summary>
/// <param name="Section">SEC as written in the file (AreTomo2 counts from 0, AreTomo3 from 1).</param>
/// <param name="Rotation">ROT: the in-plane rotation (degrees) that the alignment applies to the view.</param>
/// <param name="Magnification">GMAG: the view's magnification (the alignment divides by it).</param>
/// <param name="Tx">TX: the view's shift (pixels) that the alignment removes before rotating.</param>
/// <param name="Ty">TY.</param>
/// <param name="Tilt">TILT: the tilt angle (degrees).</param>
public readonly record struct AlnRow(int Section, double Rotation, double Magnification, double Tx, double Ty,
    double Smean, double Sfit, double Scale, double Base, double Tilt);

/// <summary>A view AreTomo left out of the alignment: its index in the raw stack (from 0) and its tilt.</summary>
public readonly record struct AlnDarkFrame(int RawIndex, int Section, double Tilt);

/// <summary>
/// AreTomo's alignment file (.aln): a header (<c># RawSize = NX NY NZ</c>, <c># NumPatches</c>,
/// <c># DarkFrame = RAW SEC TILT</c> lines, <c># AlphaOffset</c>, <c># BetaOffset</c>), the global table
/// after <c># SEC ROT GMAG TX TY SMEAN SFIT SCALE BASE TILT</c>, then an optional
/// <c># Local Alignment</c> section (read past, not used). SEC is accepted counting from 0 or from 1.
/// The rows are the views that were not dark, in raw-stack order.
/// <para>
/// As an IMOD transform (the convention of AreTomo's own IMOD export and of teamtomo's conversion):
/// the view is shifted by −(TX, TY), then rotated by ROT about the centre, i.e. A = R(ROT) / GMAG and
/// D = −A·(TX, TY). GMAG is taken as the view's magnification (the alignment divides by it); AreTomo
/// writes 1 unless it refines magnification.
/// </para>
/// </summary>
public sealed record AreTomoAln(int RawNx, int RawNy, int RawNz, IReadOnlyList<AlnRow> Rows, IReadOnlyList<AlnDarkFrame> DarkFrames,
    int NumPatches = 0, double AlphaOffset = 0, double BetaOffset = 0)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private const string Fix = "give an AreTomo alignment file (.aln): '# RawSize = NX NY NZ', then '# SEC ROT GMAG TX TY SMEAN SFIT SCALE BASE TILT' and one row of ten numbers per view";

    /// <summary>Reads an .aln file; a fault names the file and line.</summary>
    public static AreTomoAln Read(string path)
    {
        var lines = ImodText.ReadLines(path);
        int nx = 0, ny = 0, nz = 0, patches = 0;
        double alpha = 0, beta = 0;
        var rows = new List<AlnRow>();
        var dark = new List<AlnDarkFrame>();
        string section = "header";
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            int lineNo = i + 1;
            if (line.Length == 0) continue;
            if (line.StartsWith('#'))
            {
                string body = line.TrimStart('#').Trim();
                string key = body.Split('=', 2)[0].Trim();
                string value = body.Contains('=') ? body.Split('=', 2)[1].Trim() : "";
                if (body.StartsWith("SEC", StringComparison.OrdinalIgnoreCase)) section = "global";
                else if (body.StartsWith("Local Alignment", StringComparison.OrdinalIgnoreCase)) section = "local";
                else if (key.Equals("RawSize", StringComparison.OrdinalIgnoreCase))
                {
                    var v = Numbers(path, lineNo, value, 3);
                    (nx, ny, nz) = ((int)v[0], (int)v[1], (int)v[2]);
                }
                else if (key.Equals("NumPatches", StringComparison.OrdinalIgnoreCase)) patches = (int)Numbers(path, lineNo, value, 1)[0];
                else if (key.Equals("DarkFrame", StringComparison.OrdinalIgnoreCase))
                {
                    var v = Numbers(path, lineNo, value, 3);
                    dark.Add(new AlnDarkFrame((int)v[0], (int)v[1], v[2]));
                }
                else if (key.Equals("AlphaOffset", StringComparison.OrdinalIgnoreCase)) alpha = Numbers(path, lineNo, value, 1)[0];
                else if (key.Equals("BetaOffset", StringComparison.OrdinalIgnoreCase)) beta = Numbers(path, lineNo, value, 1)[0];
                continue;
            }
            if (section == "local") continue;
            if (section != "global")
                throw new TomalignInputException(path, $"line {lineNo} holds numbers before the '# SEC ROT GMAG ...' line: '{ImodText.Clip(line)}'", Fix);
            var f = Numbers(path, lineNo, line, 10);
            rows.Add(new AlnRow((int)f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9]));
        }
        if (rows.Count == 0) throw new TomalignInputException(path, "the file holds no alignment rows", Fix);
        if (nz == 0) nz = rows.Count + dark.Count;
        if (rows.Count + dark.Count != nz)
            throw new TomalignInputException(path, $"{rows.Count} aligned and {dark.Count} dark views, but RawSize says {nz} views", Fix);
        int first = rows.Min(r => r.Section);
        if (first is not (0 or 1))
            throw new TomalignInputException(path, $"the SEC column starts at {first}", "SEC counts the aligned views from 0 (AreTomo2) or 1 (AreTomo3)");
        foreach (var r in rows)
            if (!(r.Magnification > 0))
                throw new TomalignInputException(path, $"GMAG {r.Magnification} of section {r.Section} is not a magnification", Fix);
        return new AreTomoAln(nx, ny, nz, rows, dark, patches, alpha, beta);
    }

    /// <summary>Indexes, in the raw stack, of the aligned views (the rows' views, in order): the raw indexes that are not dark.</summary>
    public int[] RawIndexes()
    {
        var darkSet = DarkFrames.Select(d => d.RawIndex).ToHashSet();
        return Enumerable.Range(0, RawNz).Where(i => !darkSet.Contains(i)).Take(Rows.Count).ToArray();
    }

    /// <summary>The IMOD transform (raw → aligned) of one row: A = R(ROT)/GMAG, D = −A·(TX, TY).</summary>
    public static Xf ToXf(AlnRow r)
    {
        var a = Xf.RotationScale(r.Rotation, 1 / r.Magnification);
        return a with { Dx = -(a.A11 * r.Tx + a.A12 * r.Ty), Dy = -(a.A21 * r.Tx + a.A22 * r.Ty) };
    }

    /// <summary>
    /// One transform per raw view, as IMOD's .xf: the rows' transforms at their raw indexes, dark views
    /// the identity (they are not used), and the tilt angles likewise (dark views at their own tilt).
    /// </summary>
    public (Xf[] Xf, double[] Tilts) ToImod()
    {
        var xf = Enumerable.Repeat(Xf.Identity, RawNz).ToArray();
        var tilts = new double[RawNz];
        foreach (var d in DarkFrames) if (d.RawIndex >= 0 && d.RawIndex < RawNz) tilts[d.RawIndex] = d.Tilt;
        var raw = RawIndexes();
        for (int k = 0; k < Rows.Count; k++) { xf[raw[k]] = ToXf(Rows[k]); tilts[raw[k]] = Rows[k].Tilt; }
        return (xf, tilts);
    }

    /// <summary>
    /// The .aln of IMOD transforms (raw → aligned: a rotation, an isotropic scale and a shift each, as the solve
    /// writes) and tilt angles, one per view of an NX × NY stack; SEC counted from 1 (AreTomo3).
    /// </summary>
    public static AreTomoAln FromImod(IReadOnlyList<Xf> xfs, IReadOnlyList<double> tilts, int nx, int ny)
    {
        ArgumentNullException.ThrowIfNull(xfs);
        ArgumentNullException.ThrowIfNull(tilts);
        if (xfs.Count != tilts.Count) throw new ArgumentException($"{xfs.Count} transforms for {tilts.Count} tilt angles");
        var rows = new AlnRow[xfs.Count];
        for (int i = 0; i < xfs.Count; i++)
        {
            var x = xfs[i];
            // A = s·R(θ): s = √det, θ from the first column; a shear or mirror is not an AreTomo alignment.
            double det = x.Determinant;
            if (!(det > 0)) throw new ArgumentException($"transform {i} mirrors or collapses the view (determinant {det})");
            double s = Math.Sqrt(det), theta = Math.Atan2(x.A21, x.A11) * 180 / Math.PI;
            var inv = x.Inverse();
            // D = −A·T  ⇒  T = −A⁻¹·D.
            double tx = -(inv.A11 * x.Dx + inv.A12 * x.Dy), ty = -(inv.A21 * x.Dx + inv.A22 * x.Dy);
            rows[i] = new AlnRow(i + 1, theta, 1 / s, tx, ty, 1, 1, 1, 0, tilts[i]);
        }
        return new AreTomoAln(nx, ny, xfs.Count, rows, []);
    }

    /// <summary>
    /// The .aln of an alignment made on a prepared stack (views sorted by tilt, unfit views left out), written for the user's
    /// own stack of <paramref name="inputNz"/> views, as AreTomo writes it for its raw stack: a row per aligned view in the
    /// input stack's order (SEC 1, 2, …), and each view left out as a <c># DarkFrame</c> line (its raw index, twice, and its tilt).
    /// <paramref name="inputViews"/>[k] is the input index of prepared view k.
    /// </summary>
    public static AreTomoAln FromImodForInput(IReadOnlyList<Xf> xfs, IReadOnlyList<double> tilts, int nx, int ny,
        IReadOnlyList<int> inputViews, int inputNz, IEnumerable<(int View, double Tilt)> excluded)
    {
        var prepared = FromImod(xfs, tilts, nx, ny);
        if (inputViews.Count != xfs.Count) throw new ArgumentException($"{inputViews.Count} input views for {xfs.Count} transforms");
        // Rows in the input stack's order; SEC numbers the aligned views 1, 2, … (AreTomo3), as the reader expects.
        var rows = prepared.Rows.Select((r, k) => (Row: r, Input: inputViews[k])).OrderBy(x => x.Input)
            .Select((x, i) => x.Row with { Section = i + 1 }).ToArray();
        var dark = excluded.OrderBy(e => e.View).Select(e => new AlnDarkFrame(e.View, e.View, e.Tilt)).ToArray();
        return new AreTomoAln(nx, ny, inputNz, rows, dark);
    }

    /// <summary>Writes the file in AreTomo's layout (atomic).</summary>
    public void Write(string path)
    {
        var sb = new StringBuilder();
        sb.Append("# AreTomo Alignment / Priims bprmMn\n");
        sb.Append(string.Create(Inv, $"# RawSize = {RawNx} {RawNy} {RawNz}\n"));
        sb.Append(string.Create(Inv, $"# NumPatches = {NumPatches}\n"));
        foreach (var d in DarkFrames) sb.Append(string.Create(Inv, $"# DarkFrame ={d.RawIndex,6}{d.Section,5}{d.Tilt,9:F2}\n"));
        sb.Append(string.Create(Inv, $"# AlphaOffset ={AlphaOffset,9:F2}\n"));
        sb.Append(string.Create(Inv, $"# BetaOffset ={BetaOffset,9:F2}\n"));
        sb.Append("# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT\n");
        foreach (var r in Rows)
            sb.Append(string.Create(Inv,
                $"{r.Section,5}{r.Rotation,11:F4}{r.Magnification,11:F5}{r.Tx,11:F3}{r.Ty,11:F3}{r.Smean,9:F2}{r.Sfit,9:F2}{r.Scale,9:F2}{r.Base,9:F2}{r.Tilt,10:F2}\n"));
        ImodText.WriteTextAtomically(path, sb.ToString());
    }

    private static double[] Numbers(string path, int lineNo, string text, int count)
    {
        var fields = ImodText.Split(text);
        if (fields.Length < count)
            throw new TomalignInputException(path, $"line {lineNo} holds {fields.Length} values, not {count}: '{ImodText.Clip(text)}'", Fix);
        return fields.Take(count).Select(f => ImodText.ParseFinite(path, lineNo, f, Fix)).ToArray();
    }
}
