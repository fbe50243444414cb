using System.Globalization;
using System.Text.RegularExpressions;

namespace Tomalign.Core.Formats;

/// <summary>One view of an .mdoc: its [ZValue] section's values (null where absent).</summary>
public sealed record MdocView
{
    /// <summary>The section's Z value: the view's position in the stack (0-based).</summary>
    public int ZValue { get; init; }
    public double TiltAngle { get; init; }
    /// <summary>ExposureDose, e⁻/Å² (SerialEM writes 0 when it was not calibrated).</summary>
    public double? ExposureDose { get; init; }
    /// <summary>PriorRecordDose, e⁻/Å²: dose from earlier Record images (SerialEM's own pre-exposure).</summary>
    public double? PriorRecordDose { get; init; }
    /// <summary>DateTime as written, e.g. "30-Nov-15  15:21:38".</summary>
    public string? DateTimeText { get; init; }
    /// <summary>DateTime parsed (null when it could not be).</summary>
    public DateTime? DateTime { get; init; }
    public double? PixelSpacing { get; init; }
    /// <summary>Defocus, µm (SerialEM: positive underfocus in most versions).</summary>
    public double? Defocus { get; init; }
    public double? Voltage { get; init; }
    public string? SubFramePath { get; init; }
    /// <summary>The file the section came from (per-tilt mdocs: one file per view).</summary>
    public string? Source { get; init; }
}

/// <summary>A tilt series' acquisition metadata from SerialEM's (or Tomo5's) .mdoc file(s).</summary>
public sealed record MdocSeries
{
    /// <summary>The file(s) read.</summary>
    public IReadOnlyList<string> Files { get; init; } = [];
    /// <summary>The views in stack (Z) order.</summary>
    public IReadOnlyList<MdocView> Views { get; init; } = [];
    /// <summary>The tilt-axis angle of a [T = …] line ("Tilt axis angle = 85.3" or "TiltAxisAngle = -174.23"), degrees.</summary>
    public double? TiltAxisAngle { get; init; }
    /// <summary>PixelSpacing of the header (else of the first view), Å.</summary>
    public double? PixelSpacing { get; init; }
    /// <summary>Voltage of the header or the views, kV.</summary>
    public double? Voltage { get; init; }
    public string? ImageFile { get; init; }

    public double[] TiltAngles => Views.Select(v => v.TiltAngle).ToArray();

    /// <summary>
    /// The acquisition order: for each view (stack order) its rank in time, 0 first. From PriorRecordDose when every view
    /// has it and they differ, else from DateTime when every view has one, else the stack order. Ties keep the stack order.
    /// </summary>
    public int[] AcquisitionOrder()
    {
        int n = Views.Count;
        var idx = Enumerable.Range(0, n).ToArray();
        IEnumerable<int> ordered;
        if (Views.All(v => v.PriorRecordDose is not null) && Views.Select(v => v.PriorRecordDose).Distinct().Count() > 1)
            ordered = idx.OrderBy(i => Views[i].PriorRecordDose!.Value).ThenBy(i => i);
        else if (Views.All(v => v.DateTime is not null))
            ordered = idx.OrderBy(i => Views[i].DateTime!.Value).ThenBy(i => i);
        else ordered = idx;
        var rank = new int[n];
        int r = 0;
        foreach (int i in ordered) rank[i] = r++;
        return rank;
    }

    /// <summary>
    /// The dose each view received before it was taken (pre-exposure, e⁻/Å²), stack order. PriorRecordDose when every view has it;
    /// else the sum of the ExposureDose of the views taken before it (in <see cref="AcquisitionOrder"/>) when every view has a
    /// positive ExposureDose; else null (the mdoc does not say).
    /// </summary>
    public double[]? PreExposure()
    {
        if (Views.Count == 0) return null;
        if (Views.All(v => v.PriorRecordDose is not null) && Views.Any(v => v.PriorRecordDose > 0))
            return Views.Select(v => v.PriorRecordDose!.Value).ToArray();
        if (!Views.All(v => v.ExposureDose is > 0)) return null;
        var rank = AcquisitionOrder();
        var byTime = Enumerable.Range(0, Views.Count).OrderBy(i => rank[i]).ToArray();
        var pre = new double[Views.Count];
        double sum = 0;
        foreach (int i in byTime) { pre[i] = sum; sum += Views[i].ExposureDose!.Value; }
        return pre;
    }

    /// <summary>The dose of each view (e⁻/Å², stack order) when every view has a positive ExposureDose; else null.</summary>
    public double[]? DosePerView() => Views.All(v => v.ExposureDose is > 0) && Views.Count > 0 ? Views.Select(v => v.ExposureDose!.Value).ToArray() : null;
}

/// <summary>
/// SerialEM's .mdoc (the autodoc beside a stack): a header of <c>key = value</c> lines with [T = …] title lines, then one
/// <c>[ZValue = N]</c> section per view. Also the per-tilt mdocs that Tomo5 and PACE-tomo scripts write (one file per image,
/// each one [ZValue = 0] section), combined by <see cref="ReadPerTilt"/>. Numbers may use a decimal comma.
/// Other sections ([MontSection = …], [FrameSet = …]) are skipped.
/// </summary>
public static partial class SerialEmMdoc
{
    [GeneratedRegex(@"^\[\s*ZValue\s*=\s*(-?\d+)\s*\]$", RegexOptions.IgnoreCase)]
    private static partial Regex ZValueSection();

    [GeneratedRegex(@"Tilt\s*axis\s*angle\s*=\s*(-?[0-9]+(?:[.,][0-9]*)?)", RegexOptions.IgnoreCase)]
    private static partial Regex TiltAxisInTitle();

    /// <summary>The tilt angle of every view, ordered by ZValue (which must run 0, 1, … without gaps).</summary>
    public static double[] ReadTiltAngles(string path) => Read(path).TiltAngles;

    /// <summary>Reads one .mdoc: every [ZValue] section (which must run 0, 1, … without gaps, each with its TiltAngle).</summary>
    public static MdocSeries Read(string path)
    {
        IEnumerable<string> lines;
        try { lines = File.ReadAllLines(path); }
        catch (FileNotFoundException) { throw new TomalignInputException(path, "file not found", "check the path of the .mdoc"); }
        catch (DirectoryNotFoundException) { throw new TomalignInputException(path, "folder not found", "check the path of the .mdoc"); }
        catch (IOException e) { throw new TomalignInputException(path, $"cannot read the file ({e.Message})", "check that it is a readable text file", e); }

        var header = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var sections = new SortedDictionary<int, Dictionary<string, (string Value, int Line)>>();
        Dictionary<string, (string, int)>? current = null;
        bool inOtherSection = false;
        double? axis = null;
        int lineNumber = 0;
        foreach (string raw in lines)
        {
            lineNumber++;
            string line = raw.Trim();
            if (line.Length == 0) continue;
            if (line.StartsWith('['))
            {
                var m = ZValueSection().Match(line);
                if (m.Success)
                {
                    int n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                    if (n < 0 || sections.ContainsKey(n))
                        throw new TomalignInputException(path, $"line {lineNumber}: section [ZValue = {n}] is {(n < 0 ? "negative" : "repeated")}",
                            "give each view one [ZValue = N] section, N = 0, 1, 2, …");
                    current = new Dictionary<string, (string, int)>(StringComparer.OrdinalIgnoreCase);
                    sections[n] = current;
                    inOtherSection = false;
                    continue;
                }
                current = null;
                // [T = …] title lines belong to the header; they carry the tilt axis.
                if (Regex.IsMatch(line, @"^\[\s*T\s*=", RegexOptions.IgnoreCase))
                {
                    var t = TiltAxisInTitle().Match(line);
                    if (t.Success && axis is null && TryNumber(t.Groups[1].Value, out double a)) axis = a;
                    continue;
                }
                inOtherSection = true;
                continue;
            }
            int eq = line.IndexOf('=');
            if (eq < 0) continue;
            string key = line[..eq].Trim(), value = line[(eq + 1)..].Trim();
            if (current is not null) current[key] = (value, lineNumber);
            else if (!inOtherSection) header.TryAdd(key, value);
        }
        if (sections.Count == 0)
            throw new TomalignInputException(path, "has no [ZValue = N] section", "give the SerialEM .mdoc written with the stack (one [ZValue] section per view)");

        var views = new List<MdocView>(sections.Count);
        int expected = 0;
        foreach (var (z, s) in sections)
        {
            if (z != expected)
                throw new TomalignInputException(path, $"has no section [ZValue = {expected}] (the views run to {sections.Keys.Max()})",
                    "give one [ZValue = N] section for every view of the stack");
            expected++;
            if (!s.TryGetValue("TiltAngle", out var tilt))
                throw new TomalignInputException(path, $"section [ZValue = {z}] has no TiltAngle", "give each [ZValue] section its TiltAngle = X line");
            if (!TryNumber(tilt.Value, out double angle))
                throw new TomalignInputException(path, $"line {tilt.Line}: TiltAngle '{tilt.Value}' is not a number", "write the tilt angle in degrees, e.g. TiltAngle = -60.01");
            double? Num(string k) => s.TryGetValue(k, out var v) && TryNumber(FirstWord(v.Value), out double x) ? x : null;
            string? text = s.TryGetValue("DateTime", out var dt) ? dt.Value : null;
            views.Add(new MdocView
            {
                ZValue = z,
                TiltAngle = angle,
                ExposureDose = Num("ExposureDose"),
                PriorRecordDose = Num("PriorRecordDose"),
                DateTimeText = text,
                DateTime = text is null ? null : ParseDateTime(text),
                PixelSpacing = Num("PixelSpacing"),
                Defocus = Num("Defocus"),
                Voltage = Num("Voltage"),
                SubFramePath = s.TryGetValue("SubFramePath", out var sf) ? sf.Value : null,
                Source = path,
            });
        }
        // A header "TiltAxisAngle = …" line (some writers put it outside a [T] line).
        if (axis is null && header.TryGetValue("TiltAxisAngle", out var ta) && TryNumber(FirstWord(ta), out double ha)) axis = ha;
        double? H(string k) => header.TryGetValue(k, out var v) && TryNumber(FirstWord(v), out double x) ? x : null;
        return new MdocSeries
        {
            Files = [path],
            Views = views,
            TiltAxisAngle = axis,
            PixelSpacing = H("PixelSpacing") ?? views.Select(v => v.PixelSpacing).FirstOrDefault(p => p is > 0),
            Voltage = H("Voltage") ?? views.Select(v => v.Voltage).FirstOrDefault(p => p is > 0),
            ImageFile = header.TryGetValue("ImageFile", out var f) ? f : null,
        };
    }

    /// <summary>
    /// Combines per-tilt mdocs (one image each, as Tomo5 and PACE-tomo write them) into one series ordered by tilt angle,
    /// the order of a stack assembled from those images and sorted by tilt; the views' Z values are renumbered 0, 1, ….
    /// </summary>
    public static MdocSeries ReadPerTilt(IEnumerable<string> paths)
    {
        var files = paths.OrderBy(p => p, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new TomalignInputException(null, "no per-tilt .mdoc file was found", "give the folder or the files of the per-tilt mdocs");
        var parts = files.Select(Read).ToList();
        var views = new List<MdocView>();
        foreach (var p in parts)
        {
            if (p.Views.Count != 1)
                throw new TomalignInputException(p.Files[0], $"has {p.Views.Count} views, a per-tilt mdoc has one",
                    "give either one .mdoc for the whole stack, or one per-tilt .mdoc per image");
            views.Add(p.Views[0]);
        }
        var sorted = views.OrderBy(v => v.TiltAngle).Select((v, i) => v with { ZValue = i }).ToList();
        return new MdocSeries
        {
            Files = files,
            Views = sorted,
            TiltAxisAngle = parts.Select(p => p.TiltAxisAngle).FirstOrDefault(a => a is not null),
            PixelSpacing = parts.Select(p => p.PixelSpacing).FirstOrDefault(a => a is > 0),
            Voltage = parts.Select(p => p.Voltage).FirstOrDefault(a => a is > 0),
        };
    }

    /// <summary>
    /// Reads what <paramref name="path"/> names: an .mdoc file; a folder of per-tilt mdocs; or a wildcard pattern (e.g.
    /// <c>frames/Position_12_*.mdoc</c>) of per-tilt mdocs.
    /// </summary>
    public static MdocSeries ReadAny(string path)
    {
        if (Directory.Exists(path))
            return ReadPerTilt(Directory.EnumerateFiles(path, "*.mdoc"));
        string name = Path.GetFileName(path);
        if (name.IndexOfAny(['*', '?']) >= 0)
        {
            string dir = Path.GetDirectoryName(path) is { Length: > 0 } d ? d : ".";
            if (!Directory.Exists(dir)) throw new TomalignInputException(path, "its folder does not exist", "check the path of the mdoc files");
            return ReadPerTilt(Directory.EnumerateFiles(dir, name));
        }
        return Read(path);
    }

    /// <summary>The mdoc of a stack found beside it: STACK.mdoc (SerialEM's NAME.mrc.mdoc), else NAME.mdoc; null when neither exists.</summary>
    public static string? FindBeside(string stackPath)
    {
        string withExt = stackPath + ".mdoc";
        if (File.Exists(withExt)) return withExt;
        string dir = Path.GetDirectoryName(stackPath) is { Length: > 0 } d ? d : ".";
        string plain = Path.Combine(dir, Path.GetFileNameWithoutExtension(stackPath) + ".mdoc");
        return File.Exists(plain) ? plain : null;
    }

    private static string FirstWord(string v)
    {
        int sp = v.IndexOfAny([' ', '\t']);
        return sp < 0 ? v : v[..sp];
    }

    /// <summary>A number with a decimal point or, as some locales write it, a decimal comma ("9,98").</summary>
    public static bool TryNumber(string text, out double value)
    {
        text = text.Trim();
        if (text.Contains(',') && !text.Contains('.') && text.Count(c => c == ',') == 1) text = text.Replace(',', '.');
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
    }

    private static readonly string[] DateFormats =
        ["dd-MMM-yy  HH:mm:ss", "dd-MMM-yy HH:mm:ss", "d-MMM-yy  HH:mm:ss", "d-MMM-yy HH:mm:ss", "dd-MMM-yyyy  HH:mm:ss", "dd-MMM-yyyy HH:mm:ss",
         "yyyy-MM-dd HH:mm:ss", "yyyy-MM-ddTHH:mm:ss", "yy-MMM-dd  HH:mm:ss", "yy-MMM-dd HH:mm:ss"];

    private static DateTime? ParseDateTime(string text)
    {
        string t = Regex.Replace(text.Trim(), @"\s+", " ");
        foreach (var f in DateFormats)
            if (System.DateTime.TryParseExact(t, f.Replace("  ", " "), CultureInfo.InvariantCulture, DateTimeStyles.AllowWhiteSpaces, out var d)) return d;
        return null;
    }
}
