using Tomalign.Core.Formats;
using Tomalign.Core.Pipeline;

namespace Tomalign.Core.Reporting;

/// <summary>
/// The pipeline's HTML page (NAME.COMMAND.html): <see cref="HtmlReport"/> over a <see cref="PipelineResult"/>, with the
/// tomogram's central slices when the run made one. Give it to <see cref="PipelineContext.ReportWriters"/>.
/// </summary>
public sealed class HtmlRunReport : IRunReportWriter
{
    public string Extension => ".html";

    public void Write(string path, PipelineResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var align = result.Align;
        var slices = result.Volume is { } volume && File.Exists(volume) ? CentralSlices(volume) : [];
        HtmlReport.Write(path, result.Report, align.Solve, align.NominalTilts, align.TiltAxis, align.CoarseStrengths,
            slices, align.Width, align.Height, result.Preparation, align.Local);
    }

    /// <summary>The central XY section and the central XZ slice of an XYZ volume.</summary>
    public static IReadOnlyList<SliceImage> CentralSlices(string volume)
    {
        using var r = MrcReader.Open(volume);
        var xy = new float[r.Nx * r.Ny];
        r.ReadSection(r.Nz / 2, xy);
        var xz = new float[r.Nx * r.Nz];
        for (int z = 0; z < r.Nz; z++) r.ReadRows(z, r.Ny / 2, 1, xz.AsSpan(z * r.Nx, r.Nx));
        return [new SliceImage($"XY, central section (z = {r.Nz / 2})", xy, r.Nx, r.Ny), new SliceImage($"XZ, central row (y = {r.Ny / 2})", xz, r.Nx, r.Nz)];
    }
}
