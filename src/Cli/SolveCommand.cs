using System.CommandLine;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Reporting;
using Tomalign.Core.Solve;

namespace Tomalign.Cli;

internal static partial class Commands
{
    private static Command Solve(TextWriter stdout, TextWriter stderr)
    {
        var d = new SolveOptions();
        var model = new Option<string>("--model", "-m") { Description = "Landmark model: IMOD binary .fid/.mod (one contour per landmark, z = view), or model2point text (object contour x y z).", Required = true };
        var angles = new Option<string>("--angles", "-a") { Description = "Nominal tilt angles, one per view (.rawtlt/.tlt); or give --mdoc." };
        var mdoc = MdocOption();
        var size = new Option<string?>("--size") { Description = "Stack size NX,NY (pixels); default: the model header's image size." };
        var prexg = new Option<string?>("--prexg") { Description = "The prealignment (.prexg) of the stack the model was made on: ROOT.xf = .prexg then .tltxf (xfproduct)." };
        var rotation = new Option<string>("--rotation") { Description = "Rotation variables: fixed, per-view, global, grouped:N, linear:N.", DefaultValueFactory = _ => "per-view" };
        var tilt = new Option<string>("--tilt") { Description = "Tilt-angle variables (the reference view stays fixed).", DefaultValueFactory = _ => "grouped:5" };
        var mag = new Option<string>("--mag") { Description = "Magnification variables (the reference view stays at 1).", DefaultValueFactory = _ => "grouped:4" };
        var xstretch = new Option<string?>("--xstretch") { Description = "X-stretch variables (tiltalign XStretchOption; the reference view stays at 0): fixed (the default), per-view, global, grouped:N, linear:N or auto (solved when the landmarks cover the field and the stretch is significant by an F test)." };
        var skew = new Option<string?>("--skew") { Description = "Skew variables (tiltalign SkewOption), as --xstretch." };
        var distortion = new Option<bool>("--distortion") { Description = "Solve X-stretch and skew as tiltalign usually does (etomo's XStretchOption 3 / SkewOption 3): --xstretch grouped:7:1.5 (blocks of 7 views on average, smaller at high tilt as cos(tilt)^1.5) --skew linear:11; either option given overrides its part." };
        var leaveOut = new Option<bool>("--leave-one-out") { Description = "Also solve once without each landmark and report its left-out residual (tiltalign -LeaveOutResidual, per landmark): ROOT.leaveout.txt and leaveOneOut in ROOT.solve.json." };
        var local = LocalOptions();
        var axis = TiltAxisOption("Starting tilt-axis angle, degrees counter-clockwise from +Y (IMOD's rotation angle, tiltalign RotationAngle).");
        var reference = new Option<int?>("--reference-view") { Description = "0-based view whose tilt and magnification fix the gauge; default: the view nearest zero tilt." };
        var xtilt = new Option<double>("--x-axis-tilt") { Description = "Fixed x-axis tilt (degrees), written to ROOT.xtilt.", DefaultValueFactory = _ => 0 };
        var robust = new Option<bool>("--robust") { Description = "Tukey-biweight re-weighting (K 4.685, scale from the MAD), as tiltalign's robust fitting." };
        var sds = new Option<double>("--outlier-sds") { Description = "Flag points and landmarks beyond this many robust SDs.", DefaultValueFactory = _ => d.OutlierSds };
        var drop = new Option<int>("--drop-worst") { Description = "Drop up to N flagged landmarks (worst first) and solve again.", DefaultValueFactory = _ => 0 };
        var minViews = new Option<int>("--min-views") { Description = "Landmarks seen in fewer views are dropped.", DefaultValueFactory = _ => d.MinViewsPerLandmark };
        var level = LevelOption();
        var wholeTracks = new Option<bool>("--weight-whole-tracks") { Description = "With --robust: weight whole tracks by their RMS residual, not single points (tiltalign -WeightWholeTracks; for patch-tracking models)." };
        var pixel = new Option<double>("--pixel-size") { Description = "Pixel size (Å) written to fid.xyz.", DefaultValueFactory = _ => 1 };
        var name = new Option<string?>("--name") { Description = "Base name of the outputs; default: the model's file name." };
        var output = new Option<string>("--out", "-o") { Description = "Folder for the outputs.", Required = true };
        var device = DeviceOption();
        var cmd = new Command("solve",
            "Bundle adjustment of a tilt series from tracked landmarks (IMOD tiltalign): per-view rotation, tilt, magnification " +
            "and shift, 3-D landmark positions. Writes ROOT.tltxf, ROOT.xf (with --prexg), ROOT.tlt, ROOT.xtilt, ROOT.resid, " +
            "ROOTfid.xyz, ROOT.solve.txt and ROOT.solve.json.")
        { model, angles, mdoc, size, prexg, rotation, tilt, mag, xstretch, skew, distortion, leaveOut, local.Local, local.Size, local.Overlap, local.Min, axis, reference, xtilt, robust, wholeTracks, sds, drop, minViews, level, pixel, name, output, device };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string modelPath = p.GetValue(model)!, anglesPath = p.GetValue(angles) ?? "", dir = p.GetValue(output)!;
            CheckTiltAxis(p.GetValue(axis), "solve");
            var report = new RunReport("solve", Environment.GetCommandLineArgs().Skip(1)) { Cancel = Cancellation };
            var m = report.Stage("read", () => ReadLandmarkModel(modelPath));
            var tilts = AnglesOrMdoc(anglesPath, p.GetValue(mdoc));
            if (anglesPath.Length == 0) anglesPath = p.GetValue(mdoc)!;
            var (nx, ny) = ParseSize(p.GetValue(size), m, modelPath);
            var observations = m.ToObservations();
            int maxView = observations.Count == 0 ? -1 : observations.Max(o => o.View);
            if (observations.Count == 0) throw new TomalignInputException(modelPath, "the model has no points", "track landmarks first (beads or patches)");
            if (maxView >= tilts.Length || observations.Min(o => o.View) < 0)
                throw new TomalignInputException(anglesPath, $"has {tilts.Length} angles but the model has points on view {maxView} (z = {maxView})",
                    "give the angle file of the stack the model was made on (one angle per view)");
            var prexgPath = p.GetValue(prexg);
            var prexgXf = prexgPath is null ? null : ImodText.ReadXf(prexgPath);
            var options = d with
            {
                Rotation = VariableOption.Parse(p.GetValue(rotation)!, "--rotation"),
                Tilt = VariableOption.Parse(p.GetValue(tilt)!, "--tilt"),
                Magnification = VariableOption.Parse(p.GetValue(mag)!, "--mag"),
                XStretch = VariableOption.Parse(p.GetValue(xstretch) ?? (p.GetValue(distortion) ? "grouped:7:1.5" : "fixed"), "--xstretch"),
                Skew = VariableOption.Parse(p.GetValue(skew) ?? (p.GetValue(distortion) ? "linear:11" : "fixed"), "--skew"),
                ReferenceView = p.GetValue(reference),
                XAxisTiltDegrees = p.GetValue(xtilt),
                Robust = p.GetValue(robust),
                OutlierSds = p.GetValue(sds),
                DropWorstLandmarks = p.GetValue(drop),
                MinViewsPerLandmark = p.GetValue(minViews),
                Level = p.GetValue(level),
                WeightWholeTracks = p.GetValue(wholeTracks),
            };
            var input = new SolveInput(observations, nx, ny, tilts, p.GetValue(axis)!.Value);
            using var backend = Backends.Create(ParseDevice(p.GetValue(device)!), ctx);
            report.Device = backend.Description;
            report.Inputs.AddRange(new[] { modelPath, anglesPath, prexgPath }.OfType<string>().Select(Path.GetFullPath));
            var result = report.Stage("solve", () => new BundleSolver(backend.BundleNormalEquations, ctx.Log).Solve(input, options));
            string root = p.GetValue(name) ?? Path.GetFileNameWithoutExtension(modelPath);
            var files = report.Stage("write", () => SolveFiles.Write(result, input, options, dir, root, prexgXf, prexgPath,
                p.GetValue(pixel), id => m.LandmarkKey(id)));
            report.Outputs.AddRange(files.All.Select(Path.GetFullPath));
            report.Results["observations"] = result.ObservationCount;
            report.Results["landmarks"] = result.Landmarks.Length;
            report.Results["residualMean"] = result.Overall.Mean;
            report.Results["residualSd"] = result.Overall.Sd;
            report.Results["residualRms"] = result.Overall.Rms;
            report.Results["stopReason"] = result.StopReason.ToString();
            report.Results["iterations"] = result.Iterations;
            report.Results["flaggedPoints"] = result.FlaggedPointCount;
            report.Results["gauge"] = result.Gauge;
            report.Warnings.AddRange(result.Notes);
            if (p.GetValue(leaveOut))
            {
                var loo = report.Stage("leave-one-out", () => LeaveOneOut.Compute(new BundleSolver(backend.BundleNormalEquations, ctx.Log), input, options, result));
                string looPath = Path.Combine(dir, root + ".leaveout.txt");
                Tomalign.Core.IO.AtomicFile.WriteAllLines(looPath, LeaveOneOut.TextTable(loo));
                report.Outputs.Add(Path.GetFullPath(looPath));
                report.Results["leaveOneOut"] = loo;
            }
            if (p.GetValue(local.Local))
            {
                var localSolution = report.Stage("local", () => new LocalAligner(ctx.Log).Solve(input, result, local.Parse(p)));
                string localPath = Path.Combine(dir, root + "local.xf");
                // IMOD's tilt scales the areas by this pixel size over its input's (LOCALSCALE): 0 (no scaling) unless --pixel-size was given.
                double localPixel = p.GetResult(pixel) is { Implicit: false } ? p.GetValue(pixel) : 0;
                Tomalign.Core.Geometry.LocalAlignmentFile.From(localSolution, localPixel).Write(localPath);
                report.Outputs.Add(Path.GetFullPath(localPath));
                report.Results["local"] = LocalReport.Json(localSolution);
                report.Results["localResidualMean"] = localSolution.MeanResidual;
                report.Warnings.AddRange(localSolution.Notes);
                ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Local alignments: {localSolution.NumberX} × {localSolution.NumberY} areas, residual local mean {localSolution.MeanResidual:F3} px (range {localSolution.Areas.Min(a => a.Residual.Mean):F3} to {localSolution.Areas.Max(a => a.Residual.Mean):F3}): {localPath}"));
            }
            // NAME.solve.json, as every command's report is NAME.COMMAND.json: the solve's own record (what align writes
            // there too) with the command's report (command line, device, stages, inputs, outputs) beside it.
            report.Outputs.Add(Path.GetFullPath(files.Report));
            Tomalign.Core.IO.AtomicFile.WriteAllText(files.Report, SolveReport.Json(result, options, ReportFields(report)));
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Solved {result.ObservationCount} observations of {result.Landmarks.Length} landmarks in {tilts.Length} views: residual mean {result.Overall.Mean:F3} px, SD {result.Overall.Sd:F3}, RMS {result.Overall.Rms:F3} ({result.StopReason}, {result.Iterations} iterations)"));
            foreach (var note in result.Notes) ctx.Log.LogWarning("{Note}", note);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>--local and its settings (tiltalign's local options), shared by solve, align and run.</summary>
    internal sealed class LocalCliOptions
    {
        public Option<bool> Local { get; } = new("--local") { Description = "Also solve local alignments (tiltalign LocalAlignments): overlapping areas of the field, each with its own rotation, tilt and magnification changes and shifts from the global solution; writes ROOTlocal.xf (IMOD tilt's LOCALFILE) and the areas in the JSON report." };
        public Option<string> Size { get; } = new("--local-size") { Description = "Target size X,Y of the local areas in pixels (tiltalign TargetPatchSizeXandY).", DefaultValueFactory = _ => "700,700" };
        public Option<double> Overlap { get; } = new("--local-overlap") { Description = "Fractional overlap of neighbouring local areas (tiltalign MinSizeOrOverlapXandY).", DefaultValueFactory = _ => 0.5 };
        public Option<string> Min { get; } = new("--local-min") { Description = "Fewest landmarks in a local area, in total and on each surface when they lie on two, TOTAL,SURFACE (tiltalign MinFidsTotalAndEachSurface); an area grows until it has them.", DefaultValueFactory = _ => "8,3" };

        public Tomalign.Core.Solve.LocalOptions Parse(System.CommandLine.ParseResult p)
        {
            var (sx, sy) = Pair(p.GetValue(Size)!, "--local-size", "700,700");
            var (mt, ms) = Pair(p.GetValue(Min)!, "--local-min", "8,3");
            var o = new Tomalign.Core.Solve.LocalOptions { TargetSizeX = sx, TargetSizeY = sy, MinOverlap = p.GetValue(Overlap), MinLandmarks = mt, MinPerSurface = ms };
            o.Validate();
            return o;
        }

        private static (int, int) Pair(string text, string option, string example)
        {
            var t = text.Split(',');
            if (t.Length == 2 && int.TryParse(t[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int a)
                && int.TryParse(t[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int b)) return (a, b);
            throw new TomalignInputException(null, $"{option} '{text}' is not two integers", $"give {option} {example}");
        }
    }

    internal static LocalCliOptions LocalOptions() => new();

    /// <summary>The fields of a command's JSON report, to be written into another JSON document.</summary>
    internal static IReadOnlyDictionary<string, object?> ReportFields(RunReport report)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(report.ToJson());
        return doc.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
    }

    /// <summary>--tilt-axis of track and solve: no default (a wrong axis gives a wrong alignment, not an error).</summary>
    internal static Option<double?> TiltAxisOption(string description) => new("--tilt-axis") { Description = description + " Required." };

    /// <summary>Refuses a missing --tilt-axis with the places the angle can be found.</summary>
    internal static double CheckTiltAxis(double? given, string command) => given is { } a && double.IsFinite(a)
        ? a
        : throw new TomalignInputException(null, $"{command} needs --tilt-axis (it assumes no angle: a wrong axis gives a wrong alignment)",
            "give the tilt-axis angle in degrees counter-clockwise from +Y, e.g. --tilt-axis 85: IMOD's RotationAngle, the TiltAxisAngle of " +
            "SerialEM's .mdoc, or the tiltAxisDegrees that `tomalign coarse` wrote into NAME.coarse.json");

    /// <summary>A binary IMOD model when the file starts with "IMOD", else model2point text.</summary>
    internal static ImodModel ReadLandmarkModel(string path)
    {
        if (!File.Exists(path)) throw new TomalignInputException(path, "the model file does not exist", "check the path");
        var head = new byte[4];
        using (var f = File.OpenRead(path)) f.ReadExactly(head, 0, (int)Math.Min(4, f.Length));
        return Encoding.ASCII.GetString(head) == "IMOD" ? ImodModel.Read(path) : ImodModel.ReadPointText(path);
    }

    private static (int, int) ParseSize(string? text, ImodModel m, string modelPath)
    {
        if (text is null)
        {
            if (m.XMax > 0 && m.YMax > 0) return (m.XMax, m.YMax);
            throw new TomalignInputException(modelPath, "the model does not carry the image size", "give --size NX,NY (the stack the model was made on)");
        }
        var t = text.Split(',', 'x', 'X');
        if (t.Length == 2 && int.TryParse(t[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int nx) &&
            int.TryParse(t[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int ny) && nx > 0 && ny > 0)
            return (nx, ny);
        throw new TomalignInputException(null, $"--size '{text}' is not NX,NY", "give the stack size as two positive integers, e.g. --size 512,512");
    }
}
