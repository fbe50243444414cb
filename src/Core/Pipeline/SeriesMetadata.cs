using System.Globalization;
using Tomalign.Core.Formats;

namespace Tomalign.Core.Pipeline;

/// <summary>
/// What is known of a tilt series' acquisition, per view of the user's stack (stack order): the tilt angles and where they
/// came from, and, when an .mdoc or the MRC extended header says so, the dose, the pre-exposure, the acquisition order,
/// the tilt axis, the pixel size and the voltage. Recorded in the run report (results.acquisition) and in the exports.
/// </summary>
public sealed record SeriesMetadata
{
    /// <summary>The tilt angle of each view, degrees.</summary>
    public double[] Tilts { get; init; } = [];
    /// <summary>Where the angles came from: "angle file F", "mdoc F", "extended header (FEI1) of F".</summary>
    public string AnglesSource { get; init; } = "";
    /// <summary>The .mdoc file(s) read (also when the angles came from an angle file).</summary>
    public IReadOnlyList<string> MdocFiles { get; init; } = [];
    /// <summary>The tilt-axis angle the mdoc's header (or the extended header) gives, degrees; null when none does.</summary>
    public double? TiltAxis { get; init; }
    public double? PixelSizeAngstrom { get; init; }
    public double? VoltageKv { get; init; }
    /// <summary>Dose of each view, e⁻/Å² (null: unknown).</summary>
    public double[]? DosePerView { get; init; }
    /// <summary>Dose received before each view (pre-exposure), e⁻/Å² (null: unknown).</summary>
    public double[]? PreExposure { get; init; }
    /// <summary>Rank of each view in acquisition time, 0 first (null: unknown).</summary>
    public int[]? AcquisitionOrder { get; init; }
    /// <summary>Defocus of each view, µm (null: unknown).</summary>
    public double[]? DefocusMicrons { get; init; }
    /// <summary>Warnings met while reading (an mdoc beside the stack that does not fit it, …).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>
    /// Gathers the metadata of <paramref name="stackPath"/> (with <paramref name="views"/> views). Angles from
    /// <paramref name="anglesPath"/> when given; else from <paramref name="mdocPath"/> (an .mdoc, a folder or a pattern of
    /// per-tilt mdocs); else from STACK.mdoc or NAME.mdoc beside the stack; else from the MRC extended header. None of these:
    /// an input error saying what to give. An explicit mdoc whose view count differs from the stack's is an error; one found
    /// beside the stack is then ignored with a warning.
    /// </summary>
    public static SeriesMetadata Resolve(string stackPath, string? anglesPath, string? mdocPath, int views)
    {
        var warnings = new List<string>();
        MdocSeries? mdoc = null;
        if (!string.IsNullOrWhiteSpace(mdocPath))
        {
            mdoc = SerialEmMdoc.ReadAny(mdocPath);
            if (mdoc.Views.Count != views)
                TiltSeriesFiles.RequireCount(mdocPath, mdoc.Views.Count, "views", stackPath, views);
        }
        else if (SerialEmMdoc.FindBeside(stackPath) is { } beside)
        {
            try
            {
                mdoc = SerialEmMdoc.Read(beside);
                if (mdoc.Views.Count != views)
                {
                    warnings.Add($"{beside} describes {mdoc.Views.Count} views but {Path.GetFileName(stackPath)} has {views}: it is ignored");
                    mdoc = null;
                }
            }
            catch (TomalignInputException e)
            {
                warnings.Add($"{beside} beside the stack is ignored: {e.Message}");
                mdoc = null;
            }
        }

        SectionMetadata[]? sections = null;
        string layout = "";
        using (var reader = MrcReader.Open(stackPath))
        {
            if (reader.Header.ExtendedHeaderBytes > 0)
            {
                sections = MrcExtendedHeader.Read(reader);
                layout = MrcExtendedHeader.Layout(reader.Header) ?? "";
            }
        }

        double[] tilts;
        string source;
        if (!string.IsNullOrWhiteSpace(anglesPath))
        {
            tilts = TiltSeriesFiles.ReadAnglesFor(anglesPath, stackPath, views);
            source = $"angle file {anglesPath}";
        }
        else if (mdoc is not null)
        {
            tilts = mdoc.TiltAngles;
            source = $"mdoc {string.Join(", ", mdoc.Files.Take(3))}{(mdoc.Files.Count > 3 ? $" … ({mdoc.Files.Count} files)" : "")}";
        }
        else if (MrcExtendedHeader.TiltAngles(sections) is { } headerTilts && headerTilts.Length == views)
        {
            tilts = headerTilts;
            source = $"extended header ({layout}) of {stackPath}";
        }
        else
        {
            throw new TomalignInputException(stackPath, "has no tilt angles: no angle file was given, no .mdoc was given or found beside it " +
                $"({Path.GetFileName(stackPath)}.mdoc or {Path.GetFileNameWithoutExtension(stackPath)}.mdoc), and its header holds none",
                "give --angles F.rawtlt (one angle per view) or --mdoc F.mdoc");
        }
        // An angle file and an mdoc must describe the same views in the same order, or the mdoc's dose and order would be
        // given to the wrong views: when their angles differ by more than 1° anywhere, only the mdoc's axis, pixel size and
        // voltage are kept.
        bool mdocViewsFit = true;
        if (mdoc is not null && !string.IsNullOrWhiteSpace(anglesPath))
        {
            int worst = Enumerable.Range(0, views).MaxBy(i => Math.Abs(tilts[i] - mdoc.Views[i].TiltAngle));
            if (Math.Abs(tilts[worst] - mdoc.Views[worst].TiltAngle) > 1)
            {
                mdocViewsFit = false;
                warnings.Add($"{mdoc.Files[0]} does not list the views of {Path.GetFileName(anglesPath)} in the same order (view {worst}: " +
                    $"{mdoc.Views[worst].TiltAngle.ToString("F2", CultureInfo.InvariantCulture)}° against {tilts[worst].ToString("F2", CultureInfo.InvariantCulture)}°): " +
                    "its dose and acquisition order are not used (give the mdoc's own order with --mdoc and no --angles, or an mdoc in the stack's order)");
            }
        }
        for (int i = 0; i < tilts.Length; i++)
            if (!(Math.Abs(tilts[i]) < 90))
                throw new TomalignInputException(anglesPath ?? mdocPath ?? stackPath,
                    $"the angle of view {i} is {tilts[i].ToString("G6", CultureInfo.InvariantCulture)}°, not a tilt between −90° and 90°",
                    "give the tilt of every view in degrees");

        // Dose, order and the rest: from the mdoc, else from the extended header.
        double[]? headerDose = sections is { Length: > 0 } && sections.Length == views && sections.All(s => s.Dose is > 0)
            ? sections.Select(s => s.Dose!.Value).ToArray() : null;
        double[]? Per(Func<SectionMetadata, double?> f) =>
            sections is { Length: > 0 } && sections.Length == views && sections.All(s => f(s) is not null) ? sections.Select(s => f(s)!.Value).ToArray() : null;
        var perView = mdocViewsFit ? mdoc : null;
        var order = perView?.AcquisitionOrder();
        return new SeriesMetadata
        {
            Tilts = tilts,
            AnglesSource = source,
            MdocFiles = mdoc?.Files ?? [],
            TiltAxis = mdoc?.TiltAxisAngle ?? sections?.Select(s => s.TiltAxisAngle).FirstOrDefault(a => a is not null),
            PixelSizeAngstrom = mdoc?.PixelSpacing ?? sections?.Select(s => s.PixelSizeAngstrom).FirstOrDefault(a => a is > 0),
            VoltageKv = mdoc?.Voltage ?? sections?.Select(s => s.VoltageKv).FirstOrDefault(a => a is > 0),
            DosePerView = perView is not null ? perView.DosePerView() : headerDose,
            PreExposure = perView is not null ? perView.PreExposure() : headerDose is null ? null : PreExposureInStackOrder(headerDose),
            AcquisitionOrder = order,
            DefocusMicrons = perView is not null && perView.Views.All(v => v.Defocus is not null) ? perView.Views.Select(v => v.Defocus!.Value).ToArray() : Per(s => s.DefocusMicrons),
            Warnings = warnings,
        };

        // An extended header gives the dose per section in the stack's order, which is the acquisition order for a stack
        // written as it was taken: the pre-exposure is the running sum in stack order.
        static double[] PreExposureInStackOrder(double[] dose)
        {
            var pre = new double[dose.Length];
            double sum = 0;
            for (int i = 0; i < dose.Length; i++) { pre[i] = sum; sum += dose[i]; }
            return pre;
        }
    }

    /// <summary>The JSON-friendly summary for the run report (results.acquisition).</summary>
    public object ToReport() => new
    {
        anglesSource = AnglesSource,
        mdoc = MdocFiles.Count > 0 ? MdocFiles : null,
        tiltAxis = TiltAxis,
        pixelSizeAngstrom = PixelSizeAngstrom,
        voltageKv = VoltageKv,
        dosePerView = DosePerView,
        preExposure = PreExposure,
        acquisitionOrder = AcquisitionOrder,
        defocusMicrons = DefocusMicrons,
    };
}
