using System.CommandLine;
using System.Text.Json;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.IO;
using Tomalign.Core.Simulation;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>
    /// `check`: measures an alignment of a simulated series against its truth, the same measures the tests and the
    /// zoo use: the 2-D field error after the gauge, the error with the solved tilts included (how sharply points
    /// reconstruct), the solved tilts against the true ones, and the bead error.
    /// </summary>
    private static Command Check(TextWriter stdout, TextWriter stderr)
    {
        var truth = new Option<string>("--truth") { Description = "The simulation's NAME.truth.json.", Required = true };
        var xf = new Option<string>("--xf") { Description = "The alignment to measure: raw → aligned transforms (.xf, or a .prexg for the coarse stage alone).", Required = true };
        var tlt = new Option<string?>("--tlt") { Description = "The solved tilts (.tlt); default: the nominal ones from the truth (what a coarse alignment assumes)." };
        var json = new Option<string?>("--json") { Description = "Also write the measures to this JSON file." };
        var views = new Option<string?>("--angles") { Description = "The nominal angles of the stack that was aligned, when it is not the simulated one as written (NAME.prepared.rawtlt: views sorted or left out); its views are matched to the truth by tilt." };
        var cmd = new Command("check",
            "Measure an alignment of a simulated series against its truth: field error after the gauge, the error with the " +
            "solved tilts included, tilt error after a common offset, bead error (pixels and degrees).")
        { truth, xf, tlt, json, views };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            var series = SimulatedSeries.LoadTruth(p.GetValue(truth)!);
            if (p.GetValue(views) is { } anglesPath)
            {
                try { series = series.Subset(series.ViewsWithNominalTilts(ImodText.ReadAngles(anglesPath))); }
                catch (ArgumentException e) { throw new TomalignInputException(anglesPath, e.Message, "give the angle file of the stack that was aligned"); }
            }
            string xfPath = p.GetValue(xf)!;
            var transforms = ImodText.ReadXf(xfPath);
            if (transforms.Length != series.ViewCount)
                throw new TomalignInputException(xfPath, $"has {transforms.Length} lines for {series.ViewCount} views", "give the .xf of this series");
            double[] tilts = series.NominalTilts;
            if (p.GetValue(tlt) is { } tltPath)
            {
                tilts = ImodText.ReadAngles(tltPath);
                if (tilts.Length != series.ViewCount)
                    throw new TomalignInputException(tltPath, $"has {tilts.Length} angles for {series.ViewCount} views", "give the .tlt of this series");
            }
            double field = AlignmentCheck.FieldErrorAfterGauge(series, transforms);
            double withTilts = AlignmentCheck.FieldErrorWithTilts(series, transforms, tilts);
            var (tiltRms, tiltMax, tiltOffset) = AlignmentCheck.TiltError(series, tilts);
            double beads = series.Beads.Length > 0 ? AlignmentCheck.ErrorAfterGauge(series, transforms) : double.NaN;
            ctx.Out.WriteLine($"field error after the gauge:   {field:F3} px");
            ctx.Out.WriteLine($"error with the solved tilts:   {withTilts:F3} px");
            ctx.Out.WriteLine($"tilt error (common offset {tiltOffset:F2}°): RMS {tiltRms:F3}°, max {tiltMax:F3}°");
            if (series.Beads.Length > 0) ctx.Out.WriteLine($"bead error after the gauge:    {beads:F3} px");
            if (p.GetValue(json) is { } jsonPath)
                AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(new
                {
                    fieldError = field, errorWithTilts = withTilts, tiltRms, tiltMax, tiltOffset,
                    beadError = double.IsNaN(beads) ? (double?)null : beads,
                }, new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
