using System.Globalization;
using System.Text;
using Tomalign.Core.Geometry;

namespace Tomalign.Core.Formats;

/// <summary>
/// IMOD's small text files: angle lists (.rawtlt, .tlt, .xtilt: one number a line) and transform
/// lists (.xf, .prexf, .prexg, .tltxf: <c>A11 A12 A21 A22 DX DY</c> a line), plus the
/// arithmetic IMOD does on them (xftoxg). Reading is strict and names the file and line of a
/// fault; writing uses IMOD's fixed formats and is atomic (temporary name in the same folder,
/// then a rename), so a crash never leaves half a file behind.
/// </summary>
public static class ImodText
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    // ---------------------------------------------------------------- angles

    /// <summary>
    /// Reads an angle file (.rawtlt/.tlt/.xtilt): one value in degrees a line. Blank lines are
    /// skipped (as Fortran list-directed reads skip them); surrounding whitespace is allowed.
    /// </summary>
    /// <exception cref="TomalignInputException">Missing or empty file, a line that is not one finite number.</exception>
    public static double[] ReadAngles(string path)
    {
        const string fix = "the file must hold one angle in degrees per line";
        var angles = new List<double>();
        int lineNo = 0;
        foreach (string line in ReadLines(path))
        {
            lineNo++;
            string[] fields = Split(line);
            if (fields.Length == 0) continue;
            if (fields.Length != 1)
                throw new TomalignInputException(path, $"line {lineNo} holds {fields.Length} values, not one: '{Clip(line)}'", fix);
            angles.Add(ParseFinite(path, lineNo, fields[0], fix));
        }
        if (angles.Count == 0)
            throw new TomalignInputException(path, "the file holds no angles", fix);
        return angles.ToArray();
    }

    /// <summary>
    /// Writes one angle a line, right-aligned, in IMOD's style: <c>%7.2f</c> for the default
    /// <paramref name="decimals"/> = 2 (what IMOD writes to .rawtlt, .tlt and .xtilt); the width
    /// grows with the number of decimals (width = decimals + 5). Atomic.
    /// </summary>
    public static void WriteAngles(string path, IReadOnlyList<double> angles, int decimals = 2)
    {
        ArgumentNullException.ThrowIfNull(angles);
        ArgumentOutOfRangeException.ThrowIfNegative(decimals);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(decimals, 12);
        var sb = new StringBuilder();
        for (int i = 0; i < angles.Count; i++)
        {
            RequireFiniteForWrite(angles[i], $"angle {i}");
            sb.Append(FormatAngle(angles[i], decimals)).Append('\n');
        }
        WriteTextAtomically(path, sb.ToString());
    }

    /// <summary>One angle as <see cref="WriteAngles"/> prints it (no newline).</summary>
    public static string FormatAngle(double angle, int decimals = 2) => Fixed(angle, decimals + 5, decimals);

    // ------------------------------------------------------------ transforms

    /// <summary>
    /// Reads a transform file (.xf/.prexf/.prexg/.tltxf): six numbers a line,
    /// <c>A11 A12 A21 A22 DX DY</c>. Blank lines are skipped.
    /// </summary>
    /// <exception cref="TomalignInputException">Missing or empty file, a line without exactly six finite numbers.</exception>
    public static Xf[] ReadXf(string path)
    {
        const string fix = "each line must hold six numbers, A11 A12 A21 A22 DX DY, one line per view";
        var xfs = new List<Xf>();
        int lineNo = 0;
        foreach (string line in ReadLines(path))
        {
            lineNo++;
            string[] f = Split(line);
            if (f.Length == 0) continue;
            if (f.Length != 6)
                throw new TomalignInputException(path, $"line {lineNo} holds {f.Length} values, not 6: '{Clip(line)}'", fix);
            var v = new double[6];
            for (int k = 0; k < 6; k++) v[k] = ParseFinite(path, lineNo, f[k], fix);
            xfs.Add(new Xf(v[0], v[1], v[2], v[3], v[4], v[5]));
        }
        if (xfs.Count == 0)
            throw new TomalignInputException(path, "the file holds no transforms", fix);
        return xfs.ToArray();
    }

    /// <summary>
    /// Writes transforms in IMOD's fixed format, <c>%12.7f%12.7f%12.7f%12.7f%12.3f%12.3f</c> a
    /// line (a field too wide for 12 columns is kept whole and separated by a space). Atomic.
    /// </summary>
    public static void WriteXf(string path, IReadOnlyList<Xf> xfs)
    {
        ArgumentNullException.ThrowIfNull(xfs);
        var sb = new StringBuilder(xfs.Count * 73);
        for (int i = 0; i < xfs.Count; i++) sb.Append(FormatXf(xfs[i], i)).Append('\n');
        WriteTextAtomically(path, sb.ToString());
    }

    /// <summary>One transform line as <see cref="WriteXf"/> prints it (no newline).</summary>
    public static string FormatXf(Xf xf) => FormatXf(xf, 0);

    private static string FormatXf(Xf x, int index)
    {
        ReadOnlySpan<double> v = [x.A11, x.A12, x.A21, x.A22, x.Dx, x.Dy];
        var sb = new StringBuilder(72);
        for (int k = 0; k < 6; k++)
        {
            RequireFiniteForWrite(v[k], $"transform {index}");
            sb.Append(Fixed(v[k], 12, k < 4 ? 7 : 3));
        }
        return sb.ToString();
    }

    // ------------------------------------------------------------ checks

    /// <summary>
    /// Fails when two things that must correspond one to one (angles, transforms, views) differ in
    /// count, naming both, e.g. "BBa.rawtlt has 60 angles but stack.mrc has 61 views".
    /// </summary>
    /// <param name="whatA">Phrase for the first count's owner and unit, e.g. "BBa.rawtlt has {0} angles".
    /// Without a "{0}" the count is placed in front of the noun: "angles in BBa.rawtlt" is written "60 angles in BBa.rawtlt".</param>
    /// <param name="file">The file to blame (usually the smaller, user-supplied one), or null.</param>
    /// <param name="fix">What the user should do; default "give one angle or transform per view".</param>
    public static void RequireSameCount(string whatA, int countA, string whatB, int countB, string? file,
        string fix = "give one angle or transform per view")
    {
        if (countA == countB) return;
        throw new TomalignInputException(file, $"{Phrase(whatA, countA)} but {Phrase(whatB, countB)}", fix);
    }

    private static string Phrase(string what, int count) =>
        what.Contains("{0}", StringComparison.Ordinal)
            ? string.Format(Inv, what, count)
            : $"{count.ToString(Inv)} {what}";

    // ------------------------------------------------------------ xftoxg

    /// <summary>
    /// IMOD's <c>xftoxg -NumberToFit 0 -ReferenceSection ref</c>: turns f-transforms, line i
    /// aligning view i to view i−1 (as tiltxcorr writes them to .prexf; line 0 is not used),
    /// into g-transforms aligning every view to <paramref name="referenceView"/> (0-based here;
    /// IMOD's option is 1-based). g[ref] is the identity.
    /// <para>
    /// What IMOD does (xftoxg.f90): cumulative G(0) = unit, G(i) = xfMult(f(i), G(i−1)) — xfMult(a, b)
    /// is "a then b", our <see cref="Xf.Product"/> — so G(i) maps view i to view 0; then with a
    /// reference section every output is xfMult(G(i), G(ref)⁻¹). Without a reference, nfit 0
    /// instead divides by the inverse of the <i>average</i> of the G's in "natural" parameters
    /// (rotation, mag, stretch, shift) — not implemented here. We compute the same product
    /// outward from the reference (g[i] = f[i] then g[i−1] above it; g[i] = f[i+1]⁻¹ then g[i+1]
    /// below), which equals IMOD's result without the round trip through view 0.
    /// </para>
    /// </summary>
    public static Xf[] XfToXg(IReadOnlyList<Xf> f, int referenceView)
    {
        ArgumentNullException.ThrowIfNull(f);
        if (f.Count == 0) throw new ArgumentException("no transforms", nameof(f));
        ArgumentOutOfRangeException.ThrowIfNegative(referenceView);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(referenceView, f.Count);
        var g = new Xf[f.Count];
        g[referenceView] = Xf.Identity;
        for (int i = referenceView + 1; i < f.Count; i++) g[i] = Xf.Product(f[i], g[i - 1]);
        for (int i = referenceView - 1; i >= 0; i--) g[i] = Xf.Product(f[i + 1].Inverse(), g[i + 1]);
        return g;
    }

    /// <summary>Index of the angle closest to zero (the first of equals): the usual reference view.</summary>
    public static int NearestZeroTilt(IReadOnlyList<double> angles)
    {
        ArgumentNullException.ThrowIfNull(angles);
        if (angles.Count == 0) throw new ArgumentException("no angles", nameof(angles));
        int best = 0;
        for (int i = 1; i < angles.Count; i++)
            if (Math.Abs(angles[i]) < Math.Abs(angles[best])) best = i;
        return best;
    }

    // ------------------------------------------------------------ helpers (shared by the IMOD readers)

    /// <summary>All lines of a text file, or a <see cref="TomalignInputException"/> if it cannot be read.</summary>
    internal static string[] ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TomalignInputException(path, "the file does not exist", "check the path", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TomalignInputException(path, $"the file cannot be read ({e.Message})", "check that it is a readable file", e);
        }
    }

    internal static string[] Split(string line) =>
        line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    internal static double ParseFinite(string path, int lineNo, string field, string fix)
    {
        if (!double.TryParse(field, NumberStyles.Float, Inv, out double v))
            throw new TomalignInputException(path, $"line {lineNo} is not a number: '{Clip(field)}'", fix);
        if (!double.IsFinite(v))
            throw new TomalignInputException(path, $"line {lineNo} holds a value that is not finite: '{Clip(field)}'", fix);
        return v;
    }

    internal static int ParseInt(string path, int lineNo, string field, string fix)
    {
        if (!int.TryParse(field, NumberStyles.Integer, Inv, out int v))
            throw new TomalignInputException(path, $"line {lineNo} has '{Clip(field)}' where a whole number belongs", fix);
        return v;
    }

    internal static string Clip(string s) => s.Length <= 60 ? s.Trim() : s.Trim()[..57] + "...";

    /// <summary>C's <c>%W.Df</c>: right-aligned in <paramref name="width"/> columns; −0 printed as 0;
    /// a value wider than the field keeps all its digits behind one space.</summary>
    internal static string Fixed(double v, int width, int decimals)
    {
        string s = v.ToString("F" + decimals.ToString(Inv), Inv);
        if (s[0] == '-' && s.AsSpan(1).IndexOfAnyExcept("0.") < 0) s = s[1..];
        return s.Length < width ? s.PadLeft(width) : " " + s;
    }

    private static void RequireFiniteForWrite(double v, string what)
    {
        if (!double.IsFinite(v)) throw new ArgumentException($"{what} is not finite ({v})");
    }

    /// <summary>Writes <paramref name="text"/> to a temporary file beside <paramref name="path"/> and renames it over the target.</summary>
    internal static void WriteTextAtomically(string path, string text)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllText(tmp, text, new UTF8Encoding(false));
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(tmp);
            throw new TomalignInputException(path, $"the file cannot be written ({e.Message})",
                "check that the folder exists and is writable", e);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    private static void TryDelete(string p)
    {
        try { if (File.Exists(p)) File.Delete(p); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
