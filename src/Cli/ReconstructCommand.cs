using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Reconstruction;
using Tomalign.Core.Reporting;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>IMOD tilt / AreTomo reconstruction: WBP or SIRT of an aligned stack, streamed by Y slabs.</summary>
    private static Command Reconstruct(TextWriter stdout, TextWriter stderr)
    {
        var d = new ReconstructionOptions();
        var aligned = new Argument<string>("ALIGNED") { Description = "The aligned stack (MRC or a multi-page TIFF stack, tilt axis along Y: `tomalign apply` with the final .xf)." };
        var angles = new Option<string>("--angles") { Description = "Tilt angles, one per view (the solved .tlt); or --mdoc for the nominal ones." };
        var mdoc = MdocOption();
        var thickness = new Option<int>("--thickness") { Description = "Volume thickness in (binned) voxels.", Required = true };
        var method = new Option<string>("--method") { Description = "wbp (weighted backprojection, default) or sirt.", DefaultValueFactory = _ => "wbp" };
        var iterations = new Option<int>("--iterations") { Description = "SIRT iterations.", DefaultValueFactory = _ => d.Iterations };
        var relaxation = new Option<double>("--relaxation") { Description = "SIRT relaxation (0 < λ ≤ 2).", DefaultValueFactory = _ => d.Relaxation };
        var positivity = new Option<bool>("--positivity") { Description = "SIRT: clamp negative densities to 0 after each iteration." };
        var bin = new Option<int>("--bin") { Description = "Bin the aligned views by N first.", DefaultValueFactory = _ => 1 };
        var width = new Option<int>("--width") { Description = "Volume width in X (binned pixels, centred); 0: the whole width.", DefaultValueFactory = _ => 0 };
        var slices = new Option<string?>("--slices") { Description = "First and last Y row to reconstruct, FIRST,LAST (binned, 0-based, inclusive)." };
        var xTilt = new Option<double>("--x-axis-tilt") { Description = "One x-axis tilt in degrees (IMOD XAXISTILT; the solve's .xtilt value). WBP only.", DefaultValueFactory = _ => 0 };
        var zShift = new Option<float>("--z-shift") { Description = "Shift the volume along Z (voxels).", DefaultValueFactory = _ => 0 };
        var radial = new Option<string>("--radial") { Description = "IMOD RADIAL: cutoff,falloff of the ramp roll-off in cycles/pixel.", DefaultValueFactory = _ => "0.35,0.035" };
        var hamming = new Option<bool>("--hamming") { Description = "Hamming window on the ramp instead of the radial roll-off." };
        var log = new Option<bool>("--log") { Description = "Reconstruct −ln(value): for stacks of transmitted intensity (IMOD tilt -LOG)." };
        var layout = new Option<string>("--layout") { Description = "xyz (default: sections are Z, as tilt + trimvol -rx) or imod (tilt's slice-per-Y layout).", DefaultValueFactory = _ => "xyz" };
        var mode = new Option<string>("--mode") { Description = "Output mode: float32 (2, default) or float16 (12).", DefaultValueFactory = _ => "float32" };
        var localXf = new Option<string?>("--local-xf") { Description = "Local alignments (IMOD's NAMElocal.xf, from solve --local; tilt's LOCALFILE): each voxel is backprojected through the transforms of the nearest local areas. WBP only; --angles must be the solved .tlt and --x-axis-tilt the solved one." };
        var output = new Option<string>("--out", "-o") { Description = "The volume to write (MRC). Written whole or not at all.", Required = true };
        var excludeViews = ExcludeViewsOption("not backprojected, as tilt's EXCLUDELIST (the stack and the angles still have every view).");
        var device = DeviceOption();
        var cmd = new Command("reconstruct",
            "Reconstruct a tomogram from an aligned stack by weighted backprojection (IMOD tilt) or SIRT, streamed by slabs of Y rows " +
            "so that neither the stack nor the volume is held whole; writes the volume and OUT.reconstruct.json.")
        { aligned, angles, mdoc, thickness, method, iterations, relaxation, positivity, bin, width, slices, xTilt, zShift, radial, hamming, log, layout, mode, excludeViews, localXf, output, device };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string input = p.GetValue(aligned)!, anglesPath = p.GetValue(angles) ?? "", outPath = p.GetValue(output)!;
            if (Path.GetFullPath(input) == Path.GetFullPath(outPath))
                throw new TomalignInputException(outPath, "the output would overwrite the input stack", "choose another output name (inputs are never modified)");
            var rad = p.GetValue(radial)!.Split(',');
            if (rad.Length != 2 || !double.TryParse(rad[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double cutoff)
                || !double.TryParse(rad[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double falloff))
                throw new TomalignInputException(null, $"--radial '{p.GetValue(radial)}' is not CUTOFF,FALLOFF", "give two numbers in cycles/pixel, e.g. --radial 0.35,0.035");
            (int, int)? sl = null;
            if (p.GetValue(slices) is { } st)
            {
                var t = st.Split(',');
                if (t.Length != 2 || !int.TryParse(t[0], CultureInfo.InvariantCulture, out int a) || !int.TryParse(t[1], CultureInfo.InvariantCulture, out int b))
                    throw new TomalignInputException(null, $"--slices '{st}' is not FIRST,LAST", "give two row numbers, e.g. --slices 100,199");
                sl = (a, b);
            }
            var options = d with
            {
                Thickness = p.GetValue(thickness),
                Method = p.GetValue(method)!.Trim().ToLowerInvariant() switch
                {
                    "wbp" => ReconstructionMethod.Wbp,
                    "sirt" => ReconstructionMethod.Sirt,
                    var m => throw new TomalignInputException(null, $"unknown method '{m}'", "use --method wbp or --method sirt"),
                },
                Iterations = p.GetValue(iterations), Relaxation = p.GetValue(relaxation), Positivity = p.GetValue(positivity),
                Bin = p.GetValue(bin), Width = p.GetValue(width), Slices = sl, ZShift = p.GetValue(zShift), XAxisTiltDegrees = p.GetValue(xTilt),
                RadialCutoff = cutoff, RadialFalloff = falloff, Hamming = p.GetValue(hamming), Log = p.GetValue(log),
                Layout = p.GetValue(layout)!.Trim().ToLowerInvariant() switch
                {
                    "xyz" => VolumeLayout.Xyz,
                    "imod" => VolumeLayout.ImodYSlices,
                    var l => throw new TomalignInputException(null, $"unknown layout '{l}'", "use --layout xyz or --layout imod"),
                },
                OutputMode = ParseMode(p.GetValue(mode)!),
            };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new TomalignInputException(null, e.Message, "check the reconstruct options (tomalign reconstruct --help)"); }
            var report = new RunReport("reconstruct", Environment.GetCommandLineArgs().Skip(1)) { Cancel = Cancellation };
            report.Inputs.AddRange(InputPaths(input, anglesPath, p.GetValue(mdoc)));
            int views;
            using (var r = MrcReader.Open(input)) views = r.Nz;
            var tilts = anglesPath.Length > 0 || p.GetValue(mdoc) is null
                ? SeriesMetadata.Resolve(input, anglesPath, null, views).Tilts
                : SeriesMetadata.Resolve(input, null, p.GetValue(mdoc), views).Tilts;
            int[] excluded = ExcludedViews(p.GetValue(excludeViews), views);
            options = options with { ExcludedViews = excluded };
            ReportExcluded(report, excluded);
            using var backend = Backends.Create(ParseDevice(p.GetValue(device)!), ctx);
            report.Device = backend.Description;
            report.DeviceMemory = backend.DeviceMemory;
            var localPath = p.GetValue(localXf);
            if (localPath is not null) report.Inputs.Add(Path.GetFullPath(localPath));
            var local = localPath is null ? null : Tomalign.Core.Geometry.LocalAlignmentFile.Read(localPath, views);
            var summary = report.Stage("reconstruct", () => local is null
                ? new Reconstructor(backend, ctx.Log).Run(input, tilts, outPath, options, ctx.Progress("reconstruct"), Cancellation)
                : new LocalReconstructor(backend, ctx.Log).Run(input, tilts, local, outPath, options, ctx.Progress("reconstruct"), Cancellation));
            if (local is not null) report.Results["localAreas"] = new[] { local.NumberX, local.NumberY };
            report.Outputs.Add(Path.GetFullPath(outPath));
            report.Results["method"] = options.Method.ToString().ToLowerInvariant();
            report.Results["size"] = new[] { summary.Nx, summary.Ny, summary.Nz };
            report.Results["layout"] = options.Layout == VolumeLayout.Xyz ? "xyz" : "imod";
            report.Results["slabs"] = summary.Slabs;
            report.Results["rowsPerSlab"] = summary.RowsPerSlab;
            report.Results["filterSeconds"] = summary.FilterSeconds;
            report.Results["projectSeconds"] = summary.ProjectSeconds;
            report.Results["ioSeconds"] = summary.IoSeconds;           // the computation waiting for reads and writes
            report.Results["readSeconds"] = summary.ReadSeconds;       // reading, overlapped with the computation
            report.Results["writeSeconds"] = summary.WriteSeconds;     // writing, overlapped with the computation
            report.Write(ReportPathFor(outPath, "reconstruct"));
            ctx.Out.WriteLine($"Reconstructed {summary.Nx}×{summary.Ny}×{summary.Nz} ({options.Method.ToString().ToUpperInvariant()}, {summary.Slabs} slab(s)) in {report.TotalSeconds:F2} s: {outPath}");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
