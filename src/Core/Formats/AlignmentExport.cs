using System.Globalization;
using System.Text;
using Tomalign.Core.Geometry;

namespace Tomalign.Core.Formats;

/// <summary>
/// One aligned series, as the exports need it. <see cref="Xf"/> maps the views of <see cref="Stack"/> (raw → aligned,
/// IMOD's .xf), <see cref="Tilts"/> are the solved tilts. The optional input-stack fields describe the user's own stack
/// when the alignment refers to a prepared one (views sorted by tilt, unfit views left out).
/// </summary>
public sealed record ExportSeries
{
    public required string Name { get; init; }
    /// <summary>The stack the transforms refer to (the user's, or NAME.prepared.mrc).</summary>
    public required string Stack { get; init; }
    public required int Nx { get; init; }
    public required int Ny { get; init; }
    public required IReadOnlyList<Xf> Xf { get; init; }
    public required IReadOnlyList<double> Tilts { get; init; }
    /// <summary>X-axis tilt of each view, degrees (IMOD's single x-axis tilt; zeros when none).</summary>
    public IReadOnlyList<double>? XAxisTilts { get; init; }
    /// <summary>Pixel size of <see cref="Stack"/>, Å.</summary>
    public double PixelSizeAngstrom { get; init; } = 1;
    public double? VoltageKv { get; init; }
    public double SphericalAberrationMm { get; init; } = 2.7;
    public double AmplitudeContrast { get; init; } = 0.1;
    /// <summary>RELION's rlnTomoHand: −1 (RELION import's default, "invert defocus handedness") or 1.</summary>
    public int Hand { get; init; } = -1;
    /// <summary>Pre-exposure of each view of <see cref="Stack"/>, e⁻/Å² (null: unknown, written as 0 with a note).</summary>
    public IReadOnlyList<double>? PreExposure { get; init; }
    /// <summary>Nominal (stage) tilt of each view of <see cref="Stack"/>.</summary>
    public IReadOnlyList<double>? NominalTilts { get; init; }
    /// <summary>Nominal tilt-axis angle, degrees (IMOD's rotation angle).</summary>
    public double? NominalTiltAxis { get; init; }
    /// <summary>Tomogram thickness in binned voxels, and the binning.</summary>
    public int Thickness { get; init; } = 100;
    public int Bin { get; init; } = 1;
    public bool Log { get; init; }
    /// <summary>True when the thickness is a placeholder (align only): the files say to set it.</summary>
    public bool ThicknessGuessed { get; init; }
    /// <summary>Our tomogram, when one was made (recorded in tomograms.star).</summary>
    public string? Tomogram { get; init; }
    // --- The user's stack, when the alignment refers to a prepared one.
    public string? InputStack { get; init; }
    public int InputNz { get; init; }
    /// <summary>For each view of <see cref="Stack"/>, its index in <see cref="InputStack"/>.</summary>
    public IReadOnlyList<int>? InputViews { get; init; }
    /// <summary>Views of the input stack left out of the alignment (0-based) with their nominal tilts.</summary>
    public IReadOnlyList<(int View, double Tilt)> Excluded { get; init; } = [];
}

/// <summary>
/// The entries of a tilt.com that make IMOD's tilt place voxels as Tomalign's WBP does. Tomalign (0-based pixel indices):
/// the tilt axis is the column w/2 of the aligned (binned, w wide) stack, a voxel at column i, z index k is at x = i − w/2,
/// z = k − t/2 (t the thickness), and it projects to column x·cos θ + z·sin θ + w/2. IMOD's tilt (tilt.f90; 1-based
/// columns): the axis is the column nxfull/2 + 0.5 + DELXX/bin (OFFSET's second value: "cutting the X-axis at NX/2. + DELXX"),
/// the output's centre the column int(w/2) + 0.5 + DELXX/bin + SHIFTX/bin, its centre row int(t/2) + 0.5 + SHIFTZ/bin, and
/// it backprojects the output row I at z = −(I − centre row) (sin β = −sin θ). So DELXX = bin/2, SHIFTX = (w/2 − int(w/2))·bin,
/// SHIFTZ = (t/2 − int(t/2) − 1/2)·bin, THICKNESS = t·bin (tilt divides THICKNESS, OFFSET, SHIFT and FULLIMAGE by IMAGEBINNED),
/// FULLIMAGE = (w·bin, h·bin) so that tilt's nxfull is the aligned stack's width. RADIAL: tilt's fall-off is exp(−(d/f)²),
/// Tomalign's exp(−d²/2σ²): f = σ·√2. Not matched: tilt's slice centre (Y) is nyfull/2 − 1/2 (0-based) where Tomalign's is
/// h/2; it only matters with an x-axis tilt φ (a voxel's projection moves by at most ½·sin φ·sin θ pixel).
/// </summary>
public readonly record struct TiltComGeometry(int ThicknessUnbinned, double AxisOffsetUnbinned, double ShiftXUnbinned, double ShiftZUnbinned,
    int FullNx, int FullNy, double RadialCutoff, double RadialFalloff)
{
    /// <summary>The entries for series <paramref name="s"/> and Tomalign's filter (<paramref name="radialCutoff"/>, Gaussian sigma <paramref name="radialFalloff"/>).</summary>
    public static TiltComGeometry For(ExportSeries s, double radialCutoff = 0.35, double radialFalloff = 0.035)
    {
        int b = Math.Max(1, s.Bin), w = s.Nx / b, h = s.Ny / b, t = s.Thickness;
        return new TiltComGeometry(t * b, 0.5 * b, (w / 2.0 - w / 2) * b, (t / 2.0 - t / 2 - 0.5) * b, w * b, h * b,
            radialCutoff, radialFalloff * Math.Sqrt(2));
    }
}

/// <summary>
/// Files for the next programs, from an alignment (docs/FORMATS.md has the conventions):
/// <list type="bullet">
/// <item>IMOD: NAME.tilt.com (tilt run on NAME.ali reproduces our WBP: size, thickness, binning, orientation, x-axis tilt,
/// -LOG), and, when views were left out or sorted, NAME.input.xf/.tlt for the user's own stack with NAME.input.tilt.com
/// (EXCLUDELIST of the views left out) and the newstack line that makes its aligned stack.</item>
/// <item>RELION 5: relion/tomograms.star (one row per series, merged with rows already there) and relion/tilt_series/NAME.star
/// (rlnTomoXTilt, rlnTomoYTilt, rlnTomoZRot, rlnTomoXShiftAngst, rlnTomoYShiftAngst, pre-exposure, nominal tilt and axis).</item>
/// <item>Warp/WarpTools: warp/NAME/NAME.xf and NAME.tlt, the layout ts_import_alignments reads.</item>
/// </list>
/// </summary>
public static class AlignmentExport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes every export into <paramref name="outDir"/>; returns the files written. Notes (e.g. a magnification RELION cannot hold) go to <paramref name="notes"/>.</summary>
    public static IReadOnlyList<string> WriteAll(ExportSeries s, string outDir, ICollection<string>? notes = null)
    {
        var files = new List<string>();
        files.AddRange(WriteTiltCom(s, outDir));
        files.AddRange(WriteRelion(s, Path.Combine(outDir, "relion"), notes));
        files.AddRange(WriteWarp(s, Path.Combine(outDir, "warp")));
        return files;
    }

    // ------------------------------------------------------------------ IMOD

    /// <summary>
    /// The tilt.com text for an aligned stack <paramref name="aligned"/> (binned by <see cref="ExportSeries.Bin"/>, as `run`
    /// writes NAME.ali) with angles <paramref name="tlt"/>. IMOD's tilt (4.8 and later) with it puts every voxel where
    /// Tomalign's WBP puts it (docs/FORMATS.md, "IMOD: NAME.tilt.com"); what each entry means to tilt is in <see cref="TiltComGeometry"/>.
    /// </summary>
    /// <param name="localFile">NAMElocal.xf (run --local) for tilt's LOCALFILE; null: none.</param>
    public static string TiltCom(ExportSeries s, string aligned, string tlt, string output, IReadOnlyList<int>? excludeOneBased = null, IEnumerable<string>? comments = null,
        string? localFile = null)
    {
        var g = TiltComGeometry.For(s);
        var sb = new StringBuilder();
        sb.Append("# Command file to run Tilt, written by Tomalign: IMOD's tilt with these files reproduces Tomalign's WBP tomogram\n");
        sb.Append("# (IMOD writes Y slices, each X × Z from the top of the specimen down, as tomalign reconstruct --layout imod;\n");
        sb.Append("# 'trimvol -rx' turns them into Tomalign's X-Y slices, --layout xyz). OFFSET and SHIFT put the tilt axis and the\n");
        sb.Append("# slab centre on Tomalign's (the pixel NX/2, counted from 0, not IMOD's NX/2 − 0.5); RADIAL's fall-off is Tomalign's\n");
        sb.Append("# Gaussian sigma × √2 (tilt's exp(−(d/falloff)²)). THICKNESS, OFFSET and SHIFT are in unbinned pixels (IMAGEBINNED divides them).\n");
        if (s.ThicknessGuessed) sb.Append("# THICKNESS is a placeholder (the alignment ran without --thickness): set it to the specimen's.\n");
        foreach (var c in comments ?? []) sb.Append("# ").Append(c).Append('\n');
        if (s.Log) sb.Append("# LOG: tilt reconstructs log10(value), Tomalign −ln(value): SCALE 0.0 -1.0 gives Tomalign's sign (the scale of densities differs anyway).\n");
        sb.Append("$setenv IMOD_OUTPUT_FORMAT MRC\n");
        sb.Append("$tilt -StandardInput\n");
        sb.Append("InputProjections ").Append(Path.GetFileName(aligned)).Append('\n');
        sb.Append("OutputFile ").Append(Path.GetFileName(output)).Append('\n');
        sb.Append(string.Create(Inv, $"IMAGEBINNED {s.Bin}\n"));
        sb.Append("TILTFILE ").Append(Path.GetFileName(tlt)).Append('\n');
        sb.Append(string.Create(Inv, $"THICKNESS {g.ThicknessUnbinned}\n"));
        sb.Append(string.Create(Inv, $"RADIAL {g.RadialCutoff:0.####} {g.RadialFalloff:0.####}\n"));
        double xtilt = s.XAxisTilts is { Count: > 0 } xt ? xt.Average() : 0;
        sb.Append(string.Create(Inv, $"XAXISTILT {xtilt:F2}\n"));
        sb.Append(string.Create(Inv, $"OFFSET 0.0 {g.AxisOffsetUnbinned:0.###}\n"));
        sb.Append(string.Create(Inv, $"SHIFT {g.ShiftXUnbinned:0.###} {g.ShiftZUnbinned:0.###}\n"));
        if (s.Log) sb.Append("LOG 0.0\n");
        sb.Append(s.Log ? "SCALE 0.0 -1.0\n" : "SCALE 0.0 1.0\n");
        sb.Append("PERPENDICULAR\n");
        sb.Append("MODE 2\n");
        sb.Append(string.Create(Inv, $"FULLIMAGE {g.FullNx} {g.FullNy}\n"));
        sb.Append("SUBSETSTART 0 0\n");
        sb.Append("AdjustOrigin\n");
        if (localFile is not null) sb.Append("LOCALFILE ").Append(Path.GetFileName(localFile)).Append('\n');
        if (excludeOneBased is { Count: > 0 }) sb.Append("EXCLUDELIST ").Append(ImodList(excludeOneBased)).Append('\n');
        sb.Append("ActionIfGPUFails 1,2\n");
        sb.Append("$if (-e ./savework) ./savework\n");
        return sb.ToString();
    }

    /// <summary>
    /// Writes through <paramref name="write"/> to a temporary name, and replaces <paramref name="path"/> only when the content
    /// differs: a run that changes nothing (a resume) leaves the file, and its time, as it was.
    /// </summary>
    private static void WriteIfChanged(string path, Action<string> write)
    {
        string temp = path + ".tmp-export";
        write(temp);
        if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(File.ReadAllBytes(temp))) File.Delete(temp);
        else File.Move(temp, path, overwrite: true);
    }

    /// <summary>IMOD's list syntax for 1-based views: "1-3,7".</summary>
    public static string ImodList(IReadOnlyList<int> oneBased)
    {
        var v = oneBased.Distinct().Order().ToArray();
        var parts = new List<string>();
        for (int i = 0; i < v.Length;)
        {
            int j = i;
            while (j + 1 < v.Length && v[j + 1] == v[j] + 1) j++;
            parts.Add(j == i ? v[i].ToString(Inv) : $"{v[i].ToString(Inv)}-{v[j].ToString(Inv)}");
            i = j + 1;
        }
        return string.Join(",", parts);
    }

    /// <summary>NAME.tilt.com for NAME.ali and NAME.tlt; with a prepared stack also NAME.input.xf/.tlt/.tilt.com for the user's stack.</summary>
    public static IReadOnlyList<string> WriteTiltCom(ExportSeries s, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var files = new List<string>();
        string P(string suffix) => Path.Combine(outDir, s.Name + suffix);
        var comments = new List<string>();
        if (s.Excluded.Count > 0)
            comments.Add($"views {ImodList(s.Excluded.Select(e => e.View + 1).ToArray())} (1-based) of {Path.GetFileName(s.InputStack)} were left out before the alignment; " +
                         $"{s.Name}.ali holds the others. {s.Name}.input.tilt.com works on that stack with an EXCLUDELIST instead.");
        string tiltCom = P(".tilt.com");
        // Local alignments (run --local) for the aligned stack: tilt's LOCALFILE (it scales the areas by the file's pixel size over the stack's).
        // Only one written with this alignment (after its .tlt), not one left by an earlier run in the same folder.
        string? local = File.Exists(P("local.xf")) && File.Exists(P(".tlt")) && File.GetLastWriteTimeUtc(P("local.xf")) >= File.GetLastWriteTimeUtc(P(".tlt"))
            ? P("local.xf") : null;
        WriteIfChanged(tiltCom, f => ImodText.WriteTextAtomically(f, TiltCom(s, P(".ali"), P(".tlt"), P("_full_rec.mrc"), comments: comments, localFile: local)));
        files.Add(tiltCom);

        if (s.InputStack is { } input && s.InputViews is { } map && s.InputNz > 0)
        {
            // One line per view of the user's stack: the solved transform and tilt of a kept view; a left-out view has the
            // identity and its nominal tilt, and is excluded (tilt's EXCLUDELIST) from the tomogram.
            var xf = Enumerable.Repeat(Geometry.Xf.Identity, s.InputNz).ToArray();
            var tilts = new double[s.InputNz];
            foreach (var (view, tilt) in s.Excluded) if (view >= 0 && view < s.InputNz) tilts[view] = tilt;
            // For IMOD's newstack: about its centre, half a pixel below ours (Xf.Recentred), so that its aligned stack is ours.
            for (int k = 0; k < map.Count; k++) { xf[map[k]] = s.Xf[k].Recentred(-0.5, -0.5); tilts[map[k]] = s.Tilts[k]; }
            WriteIfChanged(P(".input.xf"), f => ImodText.WriteXf(f, xf));
            WriteIfChanged(P(".input.tlt"), f => ImodText.WriteAngles(f, tilts));
            var excluded = s.Excluded.Select(e => e.View + 1).ToArray();
            string inputCom = P(".input.tilt.com");
            WriteIfChanged(inputCom, f => ImodText.WriteTextAtomically(f, TiltCom(s, P(".input.ali"), P(".input.tlt"), P(".input_full_rec.mrc"), excluded,
                s.Bin > 1
                    ? [$"for the user's stack {Path.GetFileName(input)}: first make its aligned stack as Tomalign does (linear interpolation; transform, then bin)",
                       $"  newstack -linear -xform {s.Name}.input.xf {Path.GetFileName(input)} {s.Name}.input.full.ali",
                       $"  newstack -bin {s.Bin} {s.Name}.input.full.ali {s.Name}.input.ali",
                       $"({s.Name}.input.xf is about IMOD's image centre, half a pixel below Tomalign's: it differs from {s.Name}.xf by that)"]
                    : [$"for the user's stack {Path.GetFileName(input)}: first make its aligned stack as Tomalign does (linear interpolation)",
                       $"  newstack -linear -xform {s.Name}.input.xf {Path.GetFileName(input)} {s.Name}.input.ali",
                       $"({s.Name}.input.xf is about IMOD's image centre, half a pixel below Tomalign's: it differs from {s.Name}.xf by that)"])));
            files.AddRange([P(".input.xf"), P(".input.tlt"), inputCom]);
        }
        return files;
    }

    // ------------------------------------------------------------------ RELION 5

    /// <summary>One view's RELION 5 parameters (degrees, Å).</summary>
    public readonly record struct RelionView(double XTilt, double YTilt, double ZRot, double XShiftAngst, double YShiftAngst);

    /// <summary>
    /// The RELION 5 parameters of every view: P = S(int(W/2), int(H/2)) · S(shift/pixel) · Rz(ZRot) · Ry(YTilt) · Rx(XTilt) ·
    /// S(−int(w/2), −int(h/2), −int(d/2)) maps a tomogram voxel (unbinned; tomogram w × h × d) to the tilt image (W × H).
    /// From Tomalign's model p = C + m·R(α)·P·R_y(θ)·R_x(φ)·X + d, C = (W/2, H/2), X relative to the tomogram's centre (w/2, h/2, d/2):
    /// XTilt = φ, YTilt = θ, ZRot = α, shift = d + C − int(C) − R(α)·P·R_y(θ)·R_x(φ)·δ, δ = (w/2, h/2, d/2) − int(…).
    /// RELION has no per-view magnification: m is dropped (the largest effect at the field's corner is reported by
    /// <see cref="MagnificationErrorPixels"/>).
    /// </summary>
    public static RelionView[] RelionViews(ExportSeries s, (int W, int H, int D) tomogram)
    {
        var views = new RelionView[s.Xf.Count];
        double dx = s.Nx / 2.0 - (int)(s.Nx / 2), dy = s.Ny / 2.0 - (int)(s.Ny / 2);
        double ox = tomogram.W / 2.0 - (int)(tomogram.W / 2), oy = tomogram.H / 2.0 - (int)(tomogram.H / 2), oz = tomogram.D / 2.0 - (int)(tomogram.D / 2);
        for (int i = 0; i < views.Length; i++)
        {
            double phi = s.XAxisTilts is { } xt ? xt[i] : 0;
            var g = ViewGeometry.FromXf(s.Xf[i], s.Tilts[i], phi);
            var (u, v) = g.ProjectAligned(ox, oy, oz);
            double a = g.AxisAngleDegrees * Math.PI / 180, c = Math.Cos(a), sn = Math.Sin(a);
            double sx = g.ShiftX + dx - (c * u - sn * v), sy = g.ShiftY + dy - (sn * u + c * v);
            views[i] = new RelionView(phi, g.TiltDegrees, g.AxisAngleDegrees, sx * s.PixelSizeAngstrom, sy * s.PixelSizeAngstrom);
        }
        return views;
    }

    /// <summary>The largest displacement (pixels) at the field's corners that dropping each view's magnification causes.</summary>
    public static double MagnificationErrorPixels(ExportSeries s)
    {
        double r = Math.Sqrt(s.Nx * s.Nx + s.Ny * s.Ny) / 2;
        return s.Xf.Select((x, i) => Math.Abs(ViewGeometry.FromXf(x, s.Tilts[i]).Magnification - 1) * r).DefaultIfEmpty(0).Max();
    }

    /// <summary>The tomogram RELION reconstructs: unbinned size (W, H, thickness × bin).</summary>
    public static (int W, int H, int D) RelionTomogramSize(ExportSeries s) => (s.Nx, s.Ny, s.Thickness * s.Bin);

    private static readonly string[] GlobalColumns =
    [
        "rlnTomoName", "rlnTomoTiltSeriesStarFile", "rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast",
        "rlnMicrographOriginalPixelSize", "rlnTomoHand", "rlnTomoTiltSeriesPixelSize", "rlnTomoTomogramBinning",
        "rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ", "rlnTomoReconstructedTomogram",
    ];

    private static readonly string[] ViewColumns =
    [
        "rlnMicrographName", "rlnTomoNominalStageTiltAngle", "rlnTomoNominalTiltAxisAngle", "rlnMicrographPreExposure",
        "rlnTomoXTilt", "rlnTomoYTilt", "rlnTomoZRot", "rlnTomoXShiftAngst", "rlnTomoYShiftAngst",
    ];

    /// <summary>relion/tomograms.star (merged) and relion/tilt_series/NAME.star.</summary>
    public static IReadOnlyList<string> WriteRelion(ExportSeries s, string relionDir, ICollection<string>? notes = null)
    {
        string seriesDir = Path.Combine(relionDir, "tilt_series");
        Directory.CreateDirectory(seriesDir);
        var size = RelionTomogramSize(s);
        var views = RelionViews(s, size);
        double magError = MagnificationErrorPixels(s);
        if (magError > 0.5)
            notes?.Add($"RELION 5 holds no per-view magnification: dropping it moves points at the field's corners by up to {magError:F2} px");
        if (s.PreExposure is null)
            notes?.Add("RELION 5 export: no dose is known (no mdoc with ExposureDose or PriorRecordDose, no dose in the MRC header): rlnMicrographPreExposure is 0 for every view");
        if (s.VoltageKv is null)
            notes?.Add("RELION 5 export: the voltage is unknown (no mdoc or header gives it): rlnVoltage 300 kV is written, correct it if needed");

        string F(double v) => v.ToString("0.######", Inv);
        var ts = new StringBuilder();
        ts.Append("\n# version 50001\n\ndata_").Append(s.Name).Append("\n\nloop_\n");
        for (int c = 0; c < ViewColumns.Length; c++) ts.Append('_').Append(ViewColumns[c]).Append(" #").Append(c + 1).Append('\n');
        string stack = Path.GetFullPath(s.Stack);
        for (int i = 0; i < views.Length; i++)
        {
            var v = views[i];
            ts.Append(string.Join("  ", new[]
            {
                $"{(i + 1).ToString("D6", Inv)}@{stack}",
                F(s.NominalTilts?[i] ?? s.Tilts[i]), F(s.NominalTiltAxis ?? v.ZRot), F(s.PreExposure?[i] ?? 0),
                F(v.XTilt), F(v.YTilt), F(v.ZRot), F(v.XShiftAngst), F(v.YShiftAngst),
            })).Append('\n');
        }
        ts.Append('\n');
        string seriesStar = Path.Combine(seriesDir, s.Name + ".star");
        ImodText.WriteTextAtomically(seriesStar, ts.ToString());

        // tomograms.star: this series' row replaces an earlier one of the same name; other series' rows are kept.
        string tomograms = Path.Combine(relionDir, "tomograms.star");
        var rows = ReadOwnRows(tomograms).Where(r => r.Length > 0 && r[0] != s.Name).ToList();
        rows.Add(
        [
            s.Name, Path.GetFullPath(seriesStar), F(s.VoltageKv ?? 300), F(s.SphericalAberrationMm), F(s.AmplitudeContrast),
            F(s.PixelSizeAngstrom), s.Hand.ToString(Inv), F(s.PixelSizeAngstrom), s.Bin.ToString(Inv),
            size.W.ToString(Inv), size.H.ToString(Inv), size.D.ToString(Inv), s.Tomogram is null ? "None" : Path.GetFullPath(s.Tomogram),
        ]);
        var g = new StringBuilder();
        g.Append("\n# version 50001\n\ndata_global\n\nloop_\n");
        for (int c = 0; c < GlobalColumns.Length; c++) g.Append('_').Append(GlobalColumns[c]).Append(" #").Append(c + 1).Append('\n');
        foreach (var r in rows.OrderBy(r => r[0], StringComparer.Ordinal)) g.Append(string.Join("  ", r)).Append('\n');
        g.Append('\n');
        ImodText.WriteTextAtomically(tomograms, g.ToString());
        return [tomograms, seriesStar];
    }

    /// <summary>The rows of a tomograms.star this exporter wrote (none when absent or in another layout).</summary>
    private static List<string[]> ReadOwnRows(string path)
    {
        var rows = new List<string[]>();
        if (!File.Exists(path)) return rows;
        var lines = File.ReadAllLines(path);
        var columns = lines.Where(l => l.StartsWith('_')).Select(l => l.Split(' ')[0][1..]).ToArray();
        if (!columns.SequenceEqual(GlobalColumns)) return rows;
        foreach (var l in lines)
        {
            string t = l.Trim();
            if (t.Length == 0 || t.StartsWith('#') || t.StartsWith('_') || t.StartsWith("data_", StringComparison.Ordinal) || t.StartsWith("loop_", StringComparison.Ordinal)) continue;
            var f = t.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == GlobalColumns.Length) rows.Add(f);
        }
        return rows;
    }

    // ------------------------------------------------------------------ Warp

    /// <summary>warp/NAME/NAME.xf and NAME.tlt: what WarpTools ts_import_alignments reads (see docs/FORMATS.md).</summary>
    public static IReadOnlyList<string> WriteWarp(ExportSeries s, string warpDir)
    {
        string dir = Path.Combine(warpDir, s.Name);
        Directory.CreateDirectory(dir);
        string xf = Path.Combine(dir, s.Name + ".xf"), tlt = Path.Combine(dir, s.Name + ".tlt");
        ImodText.WriteXf(xf, s.Xf.ToArray());
        ImodText.WriteAngles(tlt, s.Tilts.ToArray());
        return [xf, tlt];
    }
}
