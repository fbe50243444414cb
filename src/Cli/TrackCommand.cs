using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Tomalign.Core.Beads;
using Tomalign.Core.Reporting;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>
    /// Gold beads (IMOD autofidseed + beadtrack): seeds beads on the view nearest zero tilt and tracks
    /// them through the prealigned series into an IMOD fiducial model for `tomalign solve`.
    /// </summary>
    private static Command Track(TextWriter stdout, TextWriter stderr)
    {
        var d = new BeadTrackOptions();
        var stack = new Argument<string>("STACK") { Description = "The tilt series, MRC or a multi-page TIFF stack: the raw stack with --prexg, or an already prealigned stack without it." };
        var angles = new Option<string>("--angles") { Description = "Tilt angles, one per view (.rawtlt/.tlt); optional with --mdoc, an mdoc beside the stack, or angles in the MRC extended header." };
        var mdoc = MdocOption();
        var prexg = new Option<string?>("--prexg") { Description = "Coarse alignment of the raw stack (from `tomalign coarse`); the stack is prealigned with it in memory." };
        var diameter = new Option<double>("--bead-diameter") { Description = "Bead diameter in pixels of the stack.", Required = true };
        var beads = new Option<int>("--beads") { Description = "Beads to seed and track.", DefaultValueFactory = _ => d.Beads };
        var axis = TiltAxisOption("Tilt-axis angle, degrees counter-clockwise from +Y (IMOD's rotation angle); used for the first prediction.");
        var light = new Option<bool>("--light-beads") { Description = "Beads are lighter than the background." };
        var name = new Option<string?>("--name") { Description = "Base name of the outputs (default: the stack's name)." };
        var output = new Option<string>("--out", "-o") { Description = "Folder for NAME.fid, NAME.fid.txt and NAME.track.json.", Required = true };
        var excludeViews = ExcludeViewsOption("not tracked, as beadtrack's SkipViews: NAME.fid has no points on them (leave them out of the tomogram too).");
        var device = DeviceOption();
        var cmd = new Command("track",
            "Gold-bead landmarks (IMOD autofidseed + beadtrack): seed beads on the view nearest zero tilt and track them outward through the " +
            "prealigned series; writes NAME.fid (IMOD model, prealigned-stack coordinates, z = view) for `tomalign solve --model NAME.fid --prexg ...`.")
        { stack, angles, mdoc, prexg, diameter, beads, axis, light, excludeViews, name, output, device };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string input = p.GetValue(stack)!, anglesPath = p.GetValue(angles) ?? "", dir = p.GetValue(output)!;
            string baseName = p.GetValue(name) ?? Path.GetFileNameWithoutExtension(input);
            RequireBaseName(baseName);
            double tiltAxis = CheckTiltAxis(p.GetValue(axis), "track");
            var options = d with { BeadDiameter = p.GetValue(diameter), Beads = p.GetValue(beads), TiltAxisDegrees = tiltAxis, LightBeads = p.GetValue(light) };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new TomalignInputException(null, e.Message, "give --bead-diameter in pixels (≥ 2) and --beads ≥ 1"); }
            var report = new RunReport("track", Environment.GetCommandLineArgs().Skip(1)) { Cancel = Cancellation };
            report.Inputs.AddRange(InputPaths(input, anglesPath, p.GetValue(mdoc)));
            var (data, tilts) = report.Stage("read", () => ReadSeries(input, anglesPath, ctx.Progress("read"), p.GetValue(mdoc), ctx, report));
            using var backend = Backends.Create(ParseDevice(p.GetValue(device)!), ctx);
            report.Device = backend.Description;
            data = PrealignIfAsked(p.GetValue(prexg), input, data, backend, report);
            int[] excluded = ExcludedViews(p.GetValue(excludeViews), data.Nz);
            var (kept, keptTilts, views) = KeepViews(data, tilts, excluded, input);
            var result = report.Stage("track", () => new BeadTracker(backend.TemplateCorrelator, ctx.Log).Track(kept, keptTilts, options, ctx.Progress("track")));
            Directory.CreateDirectory(dir);
            BeadTrackReporting.WriteMeasures(report, result);
            ReportExcluded(report, excluded);
            if (excluded.Length > 0)
            {
                report.Results["referenceView"] = views[result.ReferenceView];
                report.Results["trackedViews"] = views;   // the per-view lists above are over these views (0-based), in this order
            }
            if (result.Seeded == 0)
            {
                // The check's numbers go into NAME.track.json even when there is nothing to track.
                report.Write(Path.Combine(dir, baseName + ".track.json"));
                throw BeadTrackReporting.Failure(input, result, "use `tomalign patch` for a series without gold");
            }
            string fid = WriteLandmarks(ToWholeStack(result.Observations, views), data, dir, baseName, report);
            report.Warnings.AddRange(result.Warnings);
            report.Write(Path.Combine(dir, baseName + ".track.json"));
            ctx.Out.WriteLine($"Tracked {result.Seeded} beads, {result.Observations.Count} observations (mean track {result.MeanTrackLength:F1} of {data.Nz} views): {fid}");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
