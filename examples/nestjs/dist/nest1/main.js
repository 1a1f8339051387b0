"use strict";
var __decorate = (this && this.__decorate) || function (decorators, target, key, desc) {
    var c = arguments.length, r = c < 3 ? target : desc === null ? desc = Object.getOwnPropertyDescriptor(target, key) : desc, d;
    if (typeof Reflect === "object" && typeof Reflect.decorate === "function") r = Reflect.decorate(decorators, target, key, desc);
    else for (var i = decorators.length - 1; i >= 0; i--) if (d = decorators[i]) r = (c < 3 ? d(r) : c > 3 ? d(target, key, r) : d(target, key)) || r;
    return c > 3 && r && Object.defineProperty(target, key, r), r;
};
var __metadata = (this && this.__metadata) || function (k, v) {
    if (typeof Reflect === "object" && typeof Reflect.metadata === "function") return Reflect.metadata(k, v);
};
var __param = (this && this.__param) || function (paramIndex, decorator) {
    return function (target, key) { decorator(target, key, paramIndex); }
};
Object.defineProperty(exports, "__esModule", { value: true });
// nest1: HTTP front. GET /kafka emits an "order created" event to Kafka and answers with the
// trace id, so a caller can find the whole trace.
require("./tracer");
require("reflect-metadata");
const common_1 = require("@nestjs/common");
const core_1 = require("@nestjs/core");
const microservices_1 = require("@nestjs/microservices");
const api_1 = require("@opentelemetry/api");
const rxjs_1 = require("rxjs");
const topics_1 = require("../topics");
let AppController = class AppController {
    kafka;
    constructor(kafka) {
        this.kafka = kafka;
    }
    async onModuleInit() {
        await this.kafka.connect();
    }
    async order() {
        const traceId = api_1.trace.getActiveSpan()?.spanContext().traceId;
        await (0, rxjs_1.lastValueFrom)(this.kafka.emit(topics_1.ORDER_CREATED, { id: Date.now(), item: 'book' }));
        return { traceId };
    }
};
__decorate([
    (0, common_1.Get)('kafka'),
    __metadata("design:type", Function),
    __metadata("design:paramtypes", []),
    __metadata("design:returntype", Promise)
], AppController.prototype, "order", null);
AppController = __decorate([
    (0, common_1.Controller)(),
    __param(0, (0, common_1.Inject)('ORDERS')),
    __metadata("design:paramtypes", [microservices_1.ClientKafka])
], AppController);
let AppModule = class AppModule {
};
AppModule = __decorate([
    (0, common_1.Module)({
        imports: [
            microservices_1.ClientsModule.register([
                { name: 'ORDERS', transport: microservices_1.Transport.KAFKA, options: { client: { clientId: 'nest1', brokers: topics_1.brokers }, producerOnlyMode: true } },
            ]),
        ],
        controllers: [AppController],
    })
], AppModule);
async function bootstrap() {
    const app = await core_1.NestFactory.create(AppModule, { logger: ['error', 'warn'] });
    await app.listen(Number(process.env.PORT ?? 3001), '127.0.0.1');
    console.log(`nest1 ready on ${await app.getUrl()}`);
}
bootstrap();
