using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Reporting;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>`tomalign export`: the files for IMOD's tilt, RELION 5 and WarpTools from an existing alignment.</summary>
    private static Command Export(TextWriter stdout, TextWriter stderr)
    {
        var stack = new Argument<string>("STACK") { Description = "The stack the alignment refers to (the one NAME.xf aligns: the raw stack, or NAME.prepared.mrc)." };
        var xf = new Option<string>("--xf") { Description = "Transforms raw → aligned, one per view (NAME.xf).", Required = true };
        var tlt = new Option<string>("--tlt") { Description = "Solved tilt angles, one per view (NAME.tlt).", Required = true };
        var xtilt = new Option<double>("--xtilt") { Description = "X-axis tilt of the reconstruction, degrees (IMOD XAXISTILT).", DefaultValueFactory = _ => 0 };
        var angles = new Option<string?>("--angles") { Description = "Nominal tilt angles of the stack (.rawtlt), for RELION's nominal stage tilt." };
        var mdoc = MdocOption();
        var thickness = new Option<int?>("--thickness") { Description = "Tomogram thickness in binned voxels (default: a quarter of the smaller side, marked as a placeholder)." };
        var bin = new Option<int>("--bin") { Description = "Binning of the aligned stack and the tomogram.", DefaultValueFactory = _ => 1 };
        var log = new Option<bool>("--log") { Description = "The tomogram is of −ln(value) (IMOD tilt LOG)." };
        var pixel = new Option<double?>("--pixel") { Description = "Pixel size of the stack, Å (default: its header, else the mdoc's)." };
        var voltage = new Option<double?>("--voltage") { Description = "Accelerating voltage, kV (default: the mdoc's or header's; else 300 with a note)." };
        var hand = new Option<int>("--hand") { Description = "RELION's rlnTomoHand, −1 (RELION import's default) or 1.", DefaultValueFactory = _ => -1 };
        var tomogram = new Option<string?>("--tomogram") { Description = "The tomogram made from this alignment, recorded in tomograms.star." };
        var name = new Option<string?>("--name") { Description = "Base name (default: the stack's name)." };
        var output = new Option<string>("--out", "-o") { Description = "Folder for NAME.tilt.com, relion/ and warp/.", Required = true };
        var cmd = new Command("export", "Write the files the next programs read from an existing alignment: IMOD's NAME.tilt.com, RELION 5's " +
            "relion/tomograms.star and relion/tilt_series/NAME.star, WarpTools' warp/NAME/NAME.xf and .tlt (docs/FORMATS.md).")
        { stack, xf, tlt, xtilt, angles, mdoc, thickness, bin, log, pixel, voltage, hand, tomogram, name, output };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string stackPath = p.GetValue(stack)!, dir = p.GetValue(output)!;
            string baseName = RequireBaseName(p.GetValue(name) ?? Path.GetFileNameWithoutExtension(stackPath));
            int nx, ny, nz;
            double headerPixel;
            using (var r = MrcReader.Open(stackPath)) { (nx, ny, nz) = (r.Nx, r.Ny, r.Nz); headerPixel = r.Header.PixelSizeX; }
            var transforms = TiltSeriesFiles.ReadXfFor(p.GetValue(xf)!, stackPath, nz);
            var tilts = TiltSeriesFiles.ReadAnglesFor(p.GetValue(tlt)!, stackPath, nz);
            int binning = p.GetValue(bin);
            if (binning < 1) throw new TomalignInputException(null, $"--bin {binning} is not a binning factor", "use --bin 1 or more");
            if (p.GetValue(thickness) is { } t && t < 1) throw new TomalignInputException(null, $"--thickness {t} is not a thickness", "give the thickness in binned voxels, e.g. --thickness 300");
            if (p.GetValue(hand) is not (1 or -1)) throw new TomalignInputException(null, $"--hand {p.GetValue(hand)} is not a hand", "use --hand -1 or --hand 1");
            string? anglesPath = p.GetValue(angles), mdocPath = p.GetValue(mdoc);
            SeriesMetadata? meta = anglesPath is not null || mdocPath is not null || SerialEmMdoc.FindBeside(stackPath) is not null
                ? SeriesMetadata.Resolve(stackPath, anglesPath, mdocPath, nz) : null;
            foreach (var w in meta?.Warnings ?? []) ctx.Log.LogWarning("{Warning}", w);
            double px = p.GetValue(pixel) ?? (Math.Abs(headerPixel - 1) > 1e-6 ? headerPixel : meta?.PixelSizeAngstrom ?? headerPixel);
            if (!(px > 0)) throw new TomalignInputException(null, $"--pixel {px} is not a pixel size", "give the pixel size in Å");
            var series = new ExportSeries
            {
                Name = baseName, Stack = stackPath, Nx = nx, Ny = ny, Xf = transforms, Tilts = tilts,
                XAxisTilts = Enumerable.Repeat(p.GetValue(xtilt), nz).ToArray(),
                PixelSizeAngstrom = px, VoltageKv = p.GetValue(voltage) ?? meta?.VoltageKv, Hand = p.GetValue(hand),
                PreExposure = meta?.PreExposure, NominalTilts = meta?.Tilts, NominalTiltAxis = meta?.TiltAxis,
                Thickness = p.GetValue(thickness) ?? Math.Max(2, Math.Min(nx, ny) / 4 / 2 * 2), ThicknessGuessed = p.GetValue(thickness) is null,
                Bin = binning, Log = p.GetValue(log), Tomogram = p.GetValue(tomogram),
            };
            Directory.CreateDirectory(dir);
            var report = new RunReport("export", Environment.GetCommandLineArgs().Skip(1));
            report.Inputs.AddRange(InputPaths(stackPath, p.GetValue(xf), p.GetValue(tlt), anglesPath, mdocPath));
            var notes = new List<string>();
            var files = AlignmentExport.WriteAll(series, dir, notes);
            foreach (var n in notes) { ctx.Log.LogWarning("{Note}", n); report.Warnings.Add(n); }
            report.Outputs.AddRange(files.Select(Path.GetFullPath));
            if (meta is not null) report.Results["acquisition"] = meta.ToReport();
            report.Results["pixelSizeAngstrom"] = px;
            report.Write(Path.Combine(dir, baseName + ".export.json"));
            foreach (var f in files) ctx.Log.LogInformation("wrote {File}", f);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
