using System.Globalization;
using System.Text.RegularExpressions;

namespace Tomalign.Core.Formats;

/// <summary>
/// SerialEM's .mdoc (the autodoc beside a stack): a header of <c>key = value</c> lines, then one
/// <c>[ZValue = N]</c> section per view holding, among others, <c>TiltAngle = X</c>. Only the tilt
/// angles are read, in Z order; other sections (<c>[T = ...]</c>, <c>[MontSection = ...]</c>) are skipped.
/// </summary>
public static partial class SerialEmMdoc
{
    [GeneratedRegex(@"^\[\s*ZValue\s*=\s*(-?\d+)\s*\]$", RegexOptions.IgnoreCase)]
    private static partial Regex ZValueSection();

    /// <summary>The tilt angle of every view, ordered by ZValue (which must run 0, 1, … without gaps).</summary>
    public static double[] ReadTiltAngles(string path)
    {
        var angles = new SortedDictionary<int, double?>();
        int? z = null;
        int lineNumber = 0;
        foreach (string raw in File.ReadLines(path))
        {
            lineNumber++;
            string line = raw.Trim();
            if (line.Length == 0) continue;
            if (line.StartsWith('['))
            {
                var m = ZValueSection().Match(line);
                if (!m.Success) { z = null; continue; }
                int n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                if (n < 0 || !angles.TryAdd(n, null))
                    throw new TomalignInputException(path, $"line {lineNumber}: section [ZValue = {n}] is {(n < 0 ? "negative" : "repeated")}",
                        "give each view one [ZValue = N] section, N = 0, 1, 2, …");
                z = n;
                continue;
            }
            int eq = line.IndexOf('=');
            if (z is not { } view || eq < 0 || !line[..eq].Trim().Equals("TiltAngle", StringComparison.OrdinalIgnoreCase)) continue;
            string value = line[(eq + 1)..].Trim();
            if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double angle) || !double.IsFinite(angle))
                throw new TomalignInputException(path, $"line {lineNumber}: TiltAngle '{value}' is not a number", "write the tilt angle in degrees, e.g. TiltAngle = -60.01");
            angles[view] = angle;
        }
        if (angles.Count == 0)
            throw new TomalignInputException(path, "has no [ZValue = N] section", "give the SerialEM .mdoc written with the stack (one [ZValue] section per view)");
        int expected = 0;
        var result = new double[angles.Count];
        foreach (var (view, angle) in angles)
        {
            if (view != expected)
                throw new TomalignInputException(path, $"has no section [ZValue = {expected}] (the views run to {angles.Keys.Max()})",
                    "give one [ZValue = N] section for every view of the stack");
            result[view] = angle ?? throw new TomalignInputException(path, $"section [ZValue = {view}] has no TiltAngle",
                "give each [ZValue] section its TiltAngle = X line");
            expected++;
        }
        return result;
    }
}
